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

// The rows the prepass writes: by default q's own rows in order. The grouped GEMM asks for `count` rows
// in its group order instead: row r from q row gather[r] (device i32 [count]; 0: q row r; outside q:
// zeros), and only rows below the device i32 at `rows_in_use` (0: all of them).
struct DequantizeRows {
  std::int64_t count = -1;  // -1: q's rows
  std::uint64_t gather = 0, rows_in_use = 0;
};

// q [rows, K] e4m3 with scales [rows, K/32] -> `out` (device address, dequantize_bf16_bytes(rows.count)
// of room): bf16 rows of dequantize_bf16_row_elements(K), then the rows' exact bytes. The caller checked
// the operands; `out` must be 16-byte aligned (Error(invalid_argument) otherwise).
void dequantize_bf16(const TensorView& q, const TensorView& scales, std::uint64_t out, CUstream stream,
                     const DequantizeRows& rows = {});

// The TMA view of the prepass's `rows` bf16 rows at `out` as the wgmma_bf16 kernels read them: boxes of
// `box_rows` rows x 64 elements, 128-byte swizzle.
CUtensorMap dequantize_bf16_tensor_map(std::uint64_t out, std::int64_t rows, std::int64_t k, int box_rows);

jit::KernelSpec dequantize_bf16_kernel_spec(const jit::Arch& arch);

}  // namespace mxjit::ops
