// MoE routing: softmax over a token's expert logits, top-k, optional renormalization; fp32 throughout.
//
// One warp per token; lane l holds logits l, l + 32, ... (Chunks of them, experts <= 32 * Chunks).
// Softmax is strictly increasing, so the top-k of the probabilities is the top-k of the logits: the
// selection ranks the logits themselves, exactly, and only the k winners' weights are computed. Ranks:
// larger logit first, equal logits (+0 and -0 too) lower expert id first, NaN above everything (as
// torch.topk). Each of the k rounds is a lane-local scan plus a warp arg-max on 64-bit (key, ~id).
#pragma once

#include "grid_dependency.cuh"
#include "moe_aux_params.cuh"
#include "mxfp8_numerics.cuh"

namespace mxjit {

struct LogitBf16 {
  static constexpr int bytes = 2;
  __device__ static float load(const void* row, unsigned int i) {
    return Bf16::to_float(static_cast<const unsigned short*>(row)[i]);
  }
};
struct LogitFp16 {
  static constexpr int bytes = 2;
  __device__ static float load(const void* row, unsigned int i) {
    return Fp16::to_float(static_cast<const unsigned short*>(row)[i]);
  }
};
struct LogitF32 {
  static constexpr int bytes = 4;
  __device__ static float load(const void* row, unsigned int i) { return static_cast<const float*>(row)[i]; }
};

// Unsigned key with the rank order above: every key of a real logit is >= 0x007FFFFF (-Inf), so 0 is
// free to mark slots past the last expert.
__device__ __forceinline__ unsigned int rank_key(float x) {
  if (x != x) return 0xFFFFFFFFu;
  if (x == 0.0f) return 0x80000000u;  // -0 ranks with +0
  const unsigned int u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float key_value(unsigned int key) {
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = __fadd_rn(v, __shfl_xor_sync(0xFFFFFFFFu, v, offset));
  return v;  // the same butterfly in every lane: all lanes hold the same bits
}

template <class Logit, int Chunks>
__global__ void __launch_bounds__(128) moe_route_topk_kernel(const RouteTopkParams p) {
  start_in_stream_order();
  const unsigned int lane = threadIdx.x & 31u;
  const unsigned int token = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (token >= p.tokens) return;  // whole warps only: the shuffles below see all 32 lanes
  const void* row = static_cast<const char*>(p.logits) + token * p.row_stride * Logit::bytes;

  unsigned int key[Chunks];
#pragma unroll
  for (int c = 0; c < Chunks; ++c) {
    const unsigned int e = c * 32u + lane;
    key[c] = e < p.experts ? rank_key(Logit::load(row, e)) : 0u;
  }

  // Lane j keeps the winner of round j. The scan takes the first of equal keys (lowest chunk, so
  // lowest id in the lane); the warp max breaks the remaining ties by the complemented id.
  unsigned int taken = 0, my_key = 0, my_expert = 0;
  for (unsigned int j = 0; j < p.top_k; ++j) {
    unsigned int best = 0, best_c = 0;
#pragma unroll
    for (int c = 0; c < Chunks; ++c)
      if (!(taken >> c & 1u) && key[c] > best) best = key[c], best_c = c;
    unsigned long long pick = static_cast<unsigned long long>(best) << 32 | ~(best_c * 32u + lane);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      const unsigned long long other = __shfl_xor_sync(0xFFFFFFFFu, pick, offset);
      pick = other > pick ? other : pick;
    }
    const unsigned int expert = ~static_cast<unsigned int>(pick);
    if ((expert & 31u) == lane) taken |= 1u << (expert >> 5);
    if (lane == j) my_key = static_cast<unsigned int>(pick >> 32), my_expert = expert;
  }

  // p_i = exp(x_i - max) / sum; the max is round 0's winner, so exp(0) = 1 bounds the sum below.
  const float top = key_value(__shfl_sync(0xFFFFFFFFu, my_key, 0));
  float sum = 0.0f;
#pragma unroll
  for (int c = 0; c < Chunks; ++c)
    if (c * 32u + lane < p.experts) sum = __fadd_rn(sum, expf(__fsub_rn(key_value(key[c]), top)));
  sum = warp_sum(sum);
  float weight = lane < p.top_k ? __fdiv_rn(expf(__fsub_rn(key_value(my_key), top)), sum) : 0.0f;
  if (p.renormalize) weight = __fdiv_rn(weight, warp_sum(weight));  // as vLLM: w / w.sum()
  if (lane < p.top_k) {
    const unsigned long long at = static_cast<unsigned long long>(token) * p.top_k + lane;
    p.topk_ids[at] = static_cast<int>(my_expert);
    p.topk_weights[at] = weight;
  }
}

}  // namespace mxjit
