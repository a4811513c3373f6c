// The operand prepass of the wgmma_bf16 GEMM (templates/mxfp8_dequantize_bf16.cuh): an MXFP8 matrix
// dequantized to bf16 in that GEMM's K order, with one `exact` byte per row.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "jit/kernel_spec.hpp"
#include "mxjit/types.hpp"

namespace mxjit::ops {

// The bf16 row length: K rounded up to 128 (the GEMM reads whole 128-deep K tiles).
std::int64_t dequantize_bf16_row_elements(std::int64_t k);

// Workspace bytes for `rows` rows of K: the bf16 rows, then one byte per row (padded to 256 bytes).
std::uint64_t dequantize_bf16_bytes(std::int64_t rows, std::int64_t k);

// q [rows, K] e4m3 with scales [rows, K/32] -> `out` (device address, dequantize_bf16_bytes of room): bf16
// rows of dequantize_bf16_row_elements(K), then the rows' exact bytes. The caller checked the operands;
// `out` must be 16-byte aligned (Error(invalid_argument) otherwise).
void dequantize_bf16(const TensorView& q, const TensorView& scales, std::uint64_t out, CUstream stream);

jit::KernelSpec dequantize_bf16_kernel_spec(const jit::Arch& arch);

}  // namespace mxjit::ops
