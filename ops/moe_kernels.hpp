// Internal side of the MoE forward's auxiliary kernels (design.md 5): everything but the grouped GEMMs.
//
//   route_topk -> group_by_expert -> [grouped GEMM 1] -> silu_mul_quantize -> [grouped GEMM 2] -> moe_combine
//
// Device pointers only; no allocation, no host synchronization, no read-back: every launch can be
// captured in a CUDA graph and replayed. Arguments are validated before any device access and
// rejected with Error(invalid_argument) naming the value and the rule it breaks. An empty problem
// (no tokens, no rows) returns without launching, except group_by_expert, which always writes the
// offsets. On sm_90 every launch of the chain (the grouped GEMMs' included) starts early and waits for
// its predecessor on the device (templates/grid_dependency.cuh), so each launch's latency and CTA
// set-up overlap the previous kernel's tail.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "mxjit/types.hpp"

namespace mxjit::ops {

inline constexpr int moe_route_max_experts = 512;   // one warp per token, 16 logits per lane
inline constexpr int moe_max_top_k = 32;            // one slot per lane
inline constexpr int moe_group_max_experts = 1024;  // one CTA, one scan element per thread

// Softmax over E logits (bf16, fp16 or f32, [T, E], unit column stride, row stride >= E), top-k,
// optional renormalization to sum 1, all in fp32. Experts are ranked by logit (softmax is strictly
// increasing, so this is the top-k of the probabilities, exactly): larger first, equal logits lower
// id first, NaN above all (as torch.topk). Slot 0 holds the largest. Writes topk_ids [T, k] i32
// (global expert ids) and topk_weights [T, k] f32, both contiguous. 1 <= top_k <= min(E, 32), E <= 512.
void launch_route_topk(const TensorView& logits, int top_k, bool renormalize, const TensorView& topk_ids,
                       const TensorView& topk_weights, CUstream stream);

// Where group_by_expert writes: device pointers to i32 arrays, 4-byte aligned.
struct MoeGrouping {
  std::uint64_t expert_offsets;  // [E + 1]: rows of local expert e are [offsets[e], offsets[e+1]); offsets[E] = rows in use
  std::uint64_t pair_row;        // [T * k]: the grouped row of pair (t, j) at t * k + j, or -1 when dropped
  std::uint64_t row_token;       // [T * k]: the token of each grouped row (only the first offsets[E] are written)
};

// Groups the T*k (token, slot) pairs of topk_ids ([T, k] i32, contiguous) by local expert, on the device,
// in one launch. expert_map: null, or [E_global] i32 (contiguous) mapping a global id to a local id in
// [0, num_local_experts) or to -1 (not on this rank: the pair is dropped). Without a map ids are local.
// Ids or map entries out of range drop the pair: never a crash or an out-of-bounds access. The order
// of rows inside an expert is unspecified. 1 <= num_local_experts <= 1024; T * k < 2^31.
void launch_group_by_expert(const TensorView& topk_ids, const TensorView* expert_map, int num_local_experts,
                            const MoeGrouping& grouping, CUstream stream);

// a = silu(h[r, :I]) * h[r, I:] with vLLM's silu_and_mul rounding (silu in fp32 rounded to h's dtype,
// times up rounded again), then MXFP8-quantized with `rule` exactly as quantize_mxfp8 (same device code).
// h: [R, 2I] bf16/fp16, unit column stride, row stride a multiple of 8, I % 32 == 0; aq: [R, I] e4m3
// (or u8) contiguous; a_scales: [R, I/32] e8m0 (or u8) linear, any row stride >= I/32 (the grouped GEMM
// wants a multiple of 4): padding bytes are left untouched. row_count: 0, or a device pointer to an i32
// (e.g. &expert_offsets[E]): only rows r < *row_count are processed, rows past it are left untouched.
void launch_silu_mul_quantize(const TensorView& h, std::uint64_t row_count, const TensorView& aq,
                              const TensorView& a_scales, ScaleRule rule, CUstream stream);

// out[t, :] = sum_{j < k} topk_weights[t, j] * y[pair_row[t*k + j], :] in fp32, slot by slot as
// acc = fma(w, y, acc) from +0 (deterministic), cast to out's dtype. Pairs whose pair_row is outside
// [0, rows of y) (-1: dropped) are skipped; a token with none gets 0. y: [rows, H], out: [T, H], both
// bf16 or fp16 (the same), unit column stride, row strides a multiple of 8, H % 8 == 0; topk_weights
// [T, k] f32 contiguous; pair_row: device i32 [T * k]. out must not overlap y.
void launch_moe_combine(const TensorView& y, std::uint64_t pair_row, const TensorView& topk_weights,
                        const TensorView& out, CUstream stream);

jit::KernelSpec route_topk_kernel_spec(DType logits, int experts, const jit::Arch& arch);
jit::KernelSpec group_by_expert_kernel_spec(const jit::Arch& arch);
jit::KernelSpec silu_mul_quantize_kernel_spec(DType dtype, ScaleRule rule, const jit::Arch& arch);
jit::KernelSpec moe_combine_kernel_spec(DType dtype, const jit::Arch& arch);

// Every specialization the four launches can use on `arch` for activations of `dtype` (bf16 or fp16):
// routing for logits of that dtype or f32 at every expert-count class, both scale rules.
std::vector<jit::KernelSpec> all_moe_aux_kernel_specs(const jit::Arch& arch, DType dtype);

}  // namespace mxjit::ops
