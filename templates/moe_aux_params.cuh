// Launch parameters of the MoE auxiliary kernels (routing, grouping, activation + quantize, combine).
// Plain C++ shared verbatim by host and device code: the host fills them (ops/moe_*.cpp), NVRTC
// compiles the kernels against the same definitions.
#pragma once

#include "mxfp8_quantize_params.cuh"

namespace mxjit {

// moe_route_topk_kernel: one warp per token.
struct RouteTopkParams {
  const void* logits;        // [tokens, experts] bf16, fp16 or f32, unit column stride
  long long row_stride;      // elements between logit rows
  unsigned int tokens;
  unsigned int experts;      // <= 32 * the kernel's Chunks
  unsigned int top_k;        // 1..min(experts, 32)
  unsigned int renormalize;  // 1: weights divided by their sum
  int* topk_ids;             // [tokens, top_k] contiguous
  float* topk_weights;       // [tokens, top_k] contiguous
};

// moe_group_by_expert_kernel: one CTA for every pair.
struct GroupByExpertParams {
  const int* topk_ids;          // [pairs] = [tokens, top_k] contiguous, global expert ids
  const int* expert_map;        // [global_experts] global -> local id or -1; null: ids are local already
  unsigned int pairs;           // tokens * top_k
  unsigned int top_k;
  unsigned int global_experts;  // entries of expert_map (0 without a map)
  unsigned int local_experts;   // 1..1024
  int* expert_offsets;          // [local_experts + 1]
  int* pair_row;                // [pairs]
  int* row_token;               // [pairs]
};

// moe_silu_mul_quantize_kernel: a[r, c] = silu(h[r, c]) * h[r, inter + c], MXFP8-quantized per 32.
struct SiluMulQuantizeParams {
  const void* h;                  // [rows, 2 * inter] bf16 or fp16, unit column stride
  long long h_row_stride;         // elements, a multiple of 8
  unsigned char* q;               // [rows, inter] e4m3 contiguous
  unsigned char* scales;          // [rows, inter / 32] e8m0, rows scale_row_stride bytes apart
  unsigned int scale_row_stride;
  unsigned int rows;              // rows of h (the most the kernel touches)
  FastDivisor blocks_per_row;     // inter / 32
  const int* row_count;           // device i32: rows at and past *row_count are skipped; null: all rows
};

// moe_combine_kernel: out[t] = sum_j weights[t, j] * y[pair_row[t * top_k + j]].
struct MoeCombineParams {
  const void* y;                 // [y_rows, hidden] bf16 or fp16, unit column stride
  long long y_row_stride;        // elements, a multiple of 8
  unsigned int y_rows;
  const int* pair_row;           // [tokens * top_k]; rows outside [0, y_rows) are skipped
  const float* weights;          // [tokens, top_k] contiguous
  unsigned int top_k;
  void* out;                     // [tokens, hidden] same dtype as y, unit column stride
  long long out_row_stride;      // elements, a multiple of 8
  unsigned int tokens;
  unsigned int vectors_per_row;  // hidden / 8: one 16-byte vector per thread
};

}  // namespace mxjit
