// Grouped MXFP8 GEMM over experts: for every expert e, the rows of e's group times e's weight.
//
//   out[row, :] = deq(a)[src(row), :] . deq(w[e])^T (+ bias[e, :])   for each row of expert e's group
//
// The groups live in device memory, so a launch never waits for the host to learn the routing and can
// be captured in a CUDA graph:
//   ExpertGroups::contiguous(offsets)    rows sorted by expert: e owns [offsets[e], offsets[e + 1])
//   ExpertGroups::masked(counts, cap)    fixed capacity: e owns [e * cap, e * cap + counts[e])
// One persistent launch walks (expert, token tile, weight tile); experts with no rows cost nothing.
// Kernels: mma.sync (portable), a weight-streaming decode kernel, and on sm_90a bf16 wgmma for prefill.
// (Mxfp8MoE also runs a TMA-fed decode kernel where it expects many expert bytes touched; this call
// cannot know the bytes its groups touch, and keeps to the others.)
#pragma once

#include <cuda.h>

#include <cstdint>

#include "mxjit/types.hpp"

namespace mxjit {

struct ExpertGroups {
  TensorView rows;            // contiguous: offsets [E + 1] i32; masked: counts [E] i32 (device memory)
  std::int64_t capacity = 0;  // masked: rows per expert; 0 = contiguous
  // The expected rows of an expert that has work (picks the tile; any value is correct). 0: guess from
  // out's rows and E.
  std::int64_t typical_rows = 0;

  static ExpertGroups contiguous(const TensorView& offsets, std::int64_t typical_rows = 0) {
    return {offsets, 0, typical_rows};
  }
  static ExpertGroups masked(const TensorView& counts, std::int64_t capacity, std::int64_t typical_rows = 0) {
    return {counts, capacity, typical_rows};
  }
};

// a: [A, K] e4m3 token-side rows (row stride % 16 == 0) with a_scales [A, K/32] e8m0 (row stride % 4 == 0);
// a_rows: null (group row r reads a row r, so A >= out rows) or [R] i32, the row of `a` each group row
// reads (a gather: e.g. the token of each (token, slot) pair; values outside [0, A) read zeros).
// w: [E, N, K] e4m3 and w_scales [E, N, K/32] e8m0 (rows padded as for a, experts back to back).
// bias: null or [E, N] of out's dtype. out: [R, N] bf16 or fp16, unit column stride. Offsets and
// counts are clamped to out's rows and the capacity: a bad group never writes outside `out`. Rows of
// `out` that belong to no group are left untouched. K % 32 == 0. One launch on `stream`; no allocation,
// no synchronization.
void grouped_gemm_mxfp8(const TensorView& a, const TensorView& a_scales, const TensorView* a_rows, const TensorView& w,
                        const TensorView& w_scales, const TensorView* bias, const ExpertGroups& groups,
                        const TensorView& out, CUstream stream);

// The same with a workspace, which lets Hopper (sm_90a) run its exact bf16 tensor-core kernel for
// prefill-sized groups: the token-side operand is dequantized into it first, gathered into group order
// (a second launch on `stream`). With less than grouped_gemm_mxfp8_workspace_bytes(R, K), R = out's rows,
// the portable kernel runs as above.
std::uint64_t grouped_gemm_mxfp8_workspace_bytes(std::int64_t rows, std::int64_t k);
void grouped_gemm_mxfp8(const TensorView& a, const TensorView& a_scales, const TensorView* a_rows, const TensorView& w,
                        const TensorView& w_scales, const TensorView* bias, const ExpertGroups& groups,
                        const TensorView& out, std::uint64_t workspace, std::uint64_t workspace_bytes, CUstream stream);

}  // namespace mxjit
