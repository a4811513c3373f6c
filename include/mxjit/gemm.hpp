// Block-scaled MXFP8 GEMM: out[M, N] = deq(a)[M, K] . deq(b)[N, K]^T (+ bias[N]), fp32 accumulation.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "mxjit/types.hpp"

namespace mxjit {

// Bytes of workspace gemm_mxfp8 needs for this shape on the current device (split-K partials and tile
// counters). Allocate it once, zero it once (cuMemsetD8); gemm_mxfp8 leaves it zeroed after each call.
std::uint64_t gemm_mxfp8_workspace_bytes(std::int64_t m, std::int64_t n, std::int64_t k);

// a: [M, K] e4m3 (rows 16-byte aligned: row stride % 16 == 0), a_scales: [M, K/32] e8m0 (row stride a
// multiple of 4 bytes, e.g. round_up(K/32, 4)); b, b_scales: the same for [N, K]. out: [M, N] bf16 or fp16
// with unit column stride; bias: null or [N] of out's dtype. K % 32 == 0, M, N >= 1. One launch on
// `stream` (of the current context); no allocation, no synchronization (graph-capturable). The
// workspace must not be shared by launches that may run concurrently.
void gemm_mxfp8(const TensorView& a, const TensorView& a_scales, const TensorView& b, const TensorView& b_scales,
                const TensorView* bias, const TensorView& out, std::uint64_t workspace, std::uint64_t workspace_bytes,
                CUstream stream);

}  // namespace mxjit
