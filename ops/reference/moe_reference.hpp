// CPU references of the MoE auxiliary kernels (design.md 5), the oracles of their GPU tests.
//
// Routing weights are computed in double (the kernel's fp32 result is checked within a relative
// tolerance); grouping is checked by properties, since the row order inside an expert is free;
// the activation and the combine repeat the kernels' fp32 operations one by one, so those outputs are
// compared bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mxjit/types.hpp"
#include "ops/reference/mxfp8_reference.hpp"

namespace mxjit::reference {

struct TopK {
  std::vector<std::int32_t> ids;  // [tokens, k], slot 0 the largest
  std::vector<float> weights;     // [tokens, k]
};

// logits: [tokens, experts] floats, rows `row_stride` apart. Ranked by logit: larger first, equal
// logits lower id first, NaN above all. Softmax weights (over all experts) in double, optionally
// divided by their sum over the k winners, rounded once to float.
TopK route_topk(const float* logits, std::int64_t tokens, int experts, std::int64_t row_stride, int top_k,
                bool renormalize);

// The local expert of a global id, or -1 when the pair is dropped (id or map entry out of range, or
// -1 in the map). map: null (ids are local) or [global_experts].
int local_expert(std::int32_t id, const std::int32_t* map, std::int64_t global_experts, int local_experts);

// [local_experts + 1]: the exclusive scan of each local expert's pair count.
std::vector<std::int32_t> expert_offsets(const std::int32_t* ids, std::int64_t pairs, const std::int32_t* map,
                                         std::int64_t global_experts, int local_experts);

// Checks a grouping written by the device: offsets equal expert_offsets(), every kept pair sits at a
// distinct row of its expert with the right row_token, every dropped pair has pair_row -1. Returns
// "" when it holds, else the first violation.
std::string check_grouping(const std::int32_t* ids, std::int64_t pairs, int top_k, const std::int32_t* map,
                           std::int64_t global_experts, int local_experts, const std::vector<std::int32_t>& offsets,
                           const std::vector<std::int32_t>& pair_row, const std::vector<std::int32_t>& row_token);

// The activation kernel's exp, operation for operation (templates/moe_silu_mul_quantize.cuh); 0 for NaN.
float silu_exp(float z);
// vLLM's silu_and_mul on one element: silu(gate) rounded to `dtype`, times up, rounded to `dtype`.
std::uint16_t silu_mul(std::uint16_t gate, std::uint16_t up, DType dtype);
// h: [rows, 2 * inter] bf16/fp16 bits, rows `row_stride` apart -> a quantized with quantize()'s
// numerics: q [rows, inter], linear scales [rows, inter / 32].
Mxfp8Tensor silu_mul_quantize(const std::uint16_t* h, DType dtype, std::int64_t rows, std::int64_t inter,
                              std::int64_t row_stride, ScaleRule rule);

// out [tokens, hidden] (bits of `dtype`): acc = fma(w, y, acc) over the slots in order from +0, slots
// whose pair_row is outside [0, y_rows) skipped; y: [y_rows, hidden] rows `y_row_stride` apart.
std::vector<std::uint16_t> moe_combine(const std::uint16_t* y, DType dtype, std::int64_t y_rows, std::int64_t hidden,
                                       std::int64_t y_row_stride, const std::int32_t* pair_row, const float* weights,
                                       std::int64_t tokens, int top_k);

// A processed MoE layer's MXFP8 weights as host copies, for the whole-forward reference.
struct MoeWeights {
  std::int64_t experts = 0, global_experts = 0, hidden = 0, inter = 0, top_k = 0;
  DType dtype = DType::bf16;
  const std::uint8_t* w13_q = nullptr;       // [E, 2I, H] e4m3
  const std::uint8_t* w13_scales = nullptr;  // [E, 2I, w13_scale_stride] e8m0
  std::int64_t w13_scale_stride = 0;
  const std::uint8_t* w2_q = nullptr;        // [E, H, I]
  const std::uint8_t* w2_scales = nullptr;   // [E, H, w2_scale_stride]
  std::int64_t w2_scale_stride = 0;
  const std::uint16_t* w13_bias = nullptr;   // [E, 2I] or null
  const std::uint16_t* w2_bias = nullptr;    // [E, H] or null
};

// The MoE forward of one token x [H] (bits of `dtype`) routed to ids/weights [top_k] (global ids, map as
// local_expert()), as Mxfp8MoE::apply defines it: x quantized (RCEIL); per kept slot h = x . W13[e]^T in
// fp64 (+ bias) rounded to dtype, a = silu_mul_quantize(h), y = a . W2[e]^T in fp64 (+ bias) rounded to
// dtype, acc = fma(w, y, acc) in fp32 over the slots; out = acc rounded to dtype. bound[n] is what the
// GPU may differ by: 2^-6 (|out| + sum_j |w_j| sum_i |a_i w2_i|) — h and y are one rounding apart
// between fp32 and fp64 sums, which can move an element of the quantized intermediate by one e4m3 step.
void moe_forward_token(const MoeWeights& w, const std::uint16_t* x, const std::int32_t* ids, const float* weights,
                       const std::int32_t* map, std::vector<double>& out, std::vector<double>& bound);

}  // namespace mxjit::reference
