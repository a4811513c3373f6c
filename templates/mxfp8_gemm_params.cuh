// Launch parameters of the MXFP8 GEMM kernels, shared verbatim by host and device code.
// out[m, n] = sum_k deq(a)[m, k] * deq(b)[n, k] (+ bias[n]): a is [M, K] e4m3 (activations), b is
// [N, K] e4m3 (weights), each with one e8m0 scale per 32 elements along K. With SwapAB kernels the
// host passes the weight as `a` and the activations as `b` (m, n swapped); `out` stays [M, N].
#pragma once

#include "tensor_map.cuh"

namespace mxjit {

// The wgmma_bf16 kernel's TMA views: the weights (kernel rows, fp8 [rows, K], boxes of 128 rows x 64
// bytes) and the prepass's bf16 tokens ([tokens, ldb_bf16], boxes of BN rows x 64 elements, 128-byte
// swizzle).
struct GemmTensorMaps {
  TensorMap weights;
  TensorMap tokens;
};

struct GemmParams {
  const unsigned char* a;         // [M, K] e4m3, rows lda bytes apart (lda % 16 == 0)
  const unsigned char* a_scales;  // [M, K/32] e8m0, rows lda_s bytes apart (lda_s % 4 == 0)
  const unsigned char* b;         // [N, K] e4m3, rows ldb bytes apart
  const unsigned char* b_scales;  // [N, K/32] e8m0, rows ldb_s bytes apart
  void* out;                      // [M, N] bf16 or fp16, rows ldo elements apart
  const void* bias;               // [N] in the output type, or null
  const unsigned short* b_bf16;   // wgmma_bf16: b dequantized by mxfp8_dequantize_bf16, rows ldb_bf16 apart
  const unsigned char* b_exact;   // wgmma_bf16: per b row, non-zero where it needs the exact path
  float* partials;                // split-K: [splits, M, N] fp32 workspace in the caller's order, summed by
                                  // a second launch (mxfp8_gemm_split_reduce.cuh)
  int m, n, k;
  long long lda, ldb, ldo, ldb_bf16;
  int lda_s, ldb_s;
  int k_tiles_per_split;          // K tiles of 128 each split walks; the last split may walk fewer
  int splits;
};

}  // namespace mxjit
