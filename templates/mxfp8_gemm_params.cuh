// Launch parameters of the MXFP8 GEMM kernels, shared verbatim by host and device code.
// out[m, n] = sum_k deq(a)[m, k] * deq(b)[n, k] (+ bias[n]): a is [M, K] e4m3 (activations), b is
// [N, K] e4m3 (weights), each with one e8m0 scale per 32 elements along K. With SwapAB kernels the
// host passes the weight as `a` and the activations as `b` (m, n swapped); `out` stays [M, N].
#pragma once

#include "tensor_map.cuh"

namespace mxjit {

// The TMA views of the kernels that take their operands by TMA. wgmma_bf16: the weights (kernel rows, fp8
// [rows, K], or [experts, rows, K] for the grouped GEMM, boxes of 128 rows x 64 bytes) and the prepass's
// bf16 tokens ([tokens, K rounded up to 128], boxes of BN rows x 64 elements, 128-byte swizzle).
// tma_decode: the weights and the fp8 tokens, boxes of 128 bytes of K by the tile's rows (or tokens),
// 128-byte swizzle.
struct GemmTensorMaps {
  TensorMap weights;
  TensorMap tokens;
};

#ifdef __CUDACC__
#define MXJIT_HOST_DEVICE __host__ __device__
#else
#define MXJIT_HOST_DEVICE
#endif

// Shared-memory shapes the host sizes launches by (ops/gemm.cpp) and the kernels lay out.
constexpr int kGemmBK = 128;                 // bytes (= fp8 elements) of K per pipeline stage: 4 scale blocks
constexpr int kGemmRowPitch = kGemmBK + 16;  // an mma.sync stage's row pitch: conflict-free fragment loads
constexpr int kDecodeReduceThreads = 256;    // tma_decode's shared-tile sum: threads per boundary CTA

// wgmma_bf16: the consumers' tile, staged for the epilogue in spare shared memory past the pipeline (the
// producer is already filling the stages with the next tile): bf16 [tokens][weights], a pitch of 136
// elements (272 bytes: the 8 rows of an stmatrix land in distinct banks, rows stay 16-byte aligned).
constexpr int kBf16StagingPitch = 136;
constexpr int kBf16StagingTokens = 128;  // tokens staged at a time
// The spare memory of a tile of bn tokens: the staging, or the exact recompute's mma.sync stage
// (GemmStage<128, 64>).
MXJIT_HOST_DEVICE constexpr int bf16_spare_bytes(int bn) {
  const int staging = (bn < kBf16StagingTokens ? bn : kBf16StagingTokens) * kBf16StagingPitch * 2;
  const int fallback = (128 + 64) * (kGemmRowPitch + 4);
  return staging > fallback ? staging : fallback;
}

// The tma_decode kernel's persistent walk: `ctas` CTAs (at most `total`) share the `total` iterations,
// (row tile, 128-deep K stage) pairs in tile-major order, `k_stages` per tile; CTA c takes iterations
// [begin(c), begin(c + 1)), none of them empty.
struct DecodeWork {
  long long total;
  int k_stages;
  int ctas;
  MXJIT_HOST_DEVICE long long begin(int c) const { return c * total / ctas; }
  MXJIT_HOST_DEVICE int cta_of(long long i) const { return static_cast<int>(((i + 1) * ctas - 1) / total); }
};

struct GemmParams {
  const unsigned char* a;         // [M, K] e4m3, rows lda bytes apart (lda % 16 == 0)
  const unsigned char* a_scales;  // [M, K/32] e8m0, rows lda_s bytes apart (lda_s % 4 == 0)
  const unsigned char* b;         // [N, K] e4m3, rows ldb bytes apart
  const unsigned char* b_scales;  // [N, K/32] e8m0, rows ldb_s bytes apart
  void* out;                      // [M, N] bf16 or fp16, rows ldo elements apart
  const void* bias;               // [N] in the output type, or null
  const unsigned char* b_exact;   // wgmma_bf16: per b row, non-zero where it needs the exact path (the
                                  // prepass's flags; its bf16 rows come by TMA, GemmTensorMaps)
  float* partials;                // split-K: [splits, M, N] fp32 workspace in the caller's order, summed by
                                  // a second launch (mxfp8_gemm_split_reduce.cuh)
  int m, n, k;
  long long lda, ldb, ldo;
  int lda_s, ldb_s;
  int k_tiles_per_split;          // K tiles of 128 each split walks; the last split may walk fewer
  int splits;
  DecodeWork decode;              // tma_decode only
};

}  // namespace mxjit
