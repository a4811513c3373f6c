// Launch parameters of the grouped (per-expert) MXFP8 GEMM, shared verbatim by host and device code.
//
// out[row, n] = sum_k deq(a)[src(row), k] * deq(b[e])[n, k] (+ bias[e, n]) for every row of expert e's
// group. The groups are rows of one [rows, K] token-side operand, in either layout:
//   contiguous: expert e owns rows [offsets[e], offsets[e + 1])            (prefill, sorted by expert)
//   masked:     expert e owns rows [e * capacity, e * capacity + counts[e]) (decode, fixed capacity)
// Both come from device memory, so a launch never waits for the host to learn the routing (graphs).
// src(row) = a_rows[row] when a gather index is given (the token of each (token, slot) pair), else row.
#pragma once

namespace mxjit {

constexpr int kGroupedGemmMaxExperts = 1024;

struct GroupedGemmParams {
  const unsigned char* a;         // token side: [*, K] e4m3, rows lda bytes apart
  const unsigned char* a_scales;  // [*, K/32] e8m0, rows lda_s bytes apart
  const int* a_rows;              // [rows] gather index into a, or null
  const unsigned char* a_exact;   // wgmma_bf16: per group row, non-zero where its token needs the exact path
                                  // (the prepass's flags; its bf16 rows come by TMA, GemmTensorMaps)
  const unsigned char* b;         // [E, N, K] e4m3 expert weights, rows ldb bytes apart
  const unsigned char* b_scales;  // [E, N, K/32] e8m0, rows ldb_s bytes apart
  void* out;                      // [rows, N] bf16 or fp16, rows ldo elements apart
  const void* bias;               // [E, N] in the output type, or null
  const int* offsets;             // contiguous layout: [E + 1]; null for the masked layout
  const int* counts;              // masked layout: [E]
  long long b_expert_stride;      // bytes between experts' weights
  long long b_scales_expert_stride;
  long long lda, ldb, ldo;
  int lda_s, ldb_s;
  int capacity;                   // masked layout: rows per expert
  int a_row_count;                // rows of a: gathered indices outside [0, a_row_count) read zeros
  int out_rows;                   // rows of out: group rows outside [0, out_rows) are never touched
  int experts, n, k;
  int k_split;                    // streaming (decode) kernel: warps sharing a row group's K
  int decode_ctas;                // tma_decode: CTAs of the persistent walk (its second launch has one fewer)
  float* partials;                // tma_decode: [decode_ctas, 2, tokens, rows] fp32 partials of shared tiles
};

}  // namespace mxjit
