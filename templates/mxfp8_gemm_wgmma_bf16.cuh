// Exact MXFP8 x MXFP8 -> bf16/fp16 GEMM on Hopper's bf16 tensor cores (wgmma, sm_90a), for more than 16
// tokens (dense here, grouped in mxfp8_grouped_gemm_wgmma_bf16.cuh: both run wgmma_bf16_tile).
//
// Every operand element is used as bf16 with its scale applied, e4m3 x 2^(b-127), which is exact in
// bf16 on the range of bf16_dequant.cuh; bf16 wgmma (m64nNk16, fp32 accumulators) then sums the whole
// K with no per-block promotion. (Hopper's fp8 wgmma aligns each 32-deep block to ~14 bits, outside
// design.md's 2^-16 sum|ab| bound: ops/gemm.hpp.)
//
// Roles: the kernel's rows are weight rows (p.a, fp8), its columns tokens. The tokens were dequantized
// once, before this launch, by mxfp8_dequantize_bf16.cuh into p.b_bf16 (K permuted inside each 64-deep
// chunk, zero past K) with a per-token `exact` flag; the weights are converted here, in registers, into
// wgmma's register A fragments, where the same K permutation makes one 32-bit word of 4 e4m3 bytes a
// whole fragment step. Nothing is dequantized into shared memory.
//
// CTA: 128 weight rows x BN (64, 128 or 256) tokens, two warpgroups of 64 rows, all 256 threads copy and issue (no
// producer warps). Stages of 64 K positions arrive by cp.async, Stages deep: the tokens' 64 bf16 per row
// (128 bytes, 16-byte chunks XOR-swizzled by row % 8: wgmma's 128-byte swizzle), the weights' 64 bytes
// per row, and the 4 scale bytes of the 128-deep chunk holding the stage. Per stage: wgmmas of stage s
// (4 k16 steps) are issued with fragments converted earlier, then, while they run, this warpgroup waits
// for its stage s - 1 MMAs, all threads meet once (stage s - 1's slot is then free and stage s + 1
// visible), the copy of stage s + Stages - 1 is issued into the freed slot and stage s + 1's weight
// fragments are converted.
//
// Correctness never depends on the data: any weight block outside the fast range, a NaN, or a token row
// flagged by the prepass sends the CTA to an exact recompute of its tile from the fp8 operands on the
// mma.sync path (MmaTile of mxfp8_gemm_mma.cuh: fp8 mma per 32-deep block, promoted with sa * sb), which
// takes every scale byte and NaN. Both paths end in an fp32 tile in shared memory, stored by one
// epilogue loop (split-K as in mxfp8_gemm_common.cuh) with coalesced writes.
#pragma once

#include "bf16_dequant.cuh"
#include "mxfp8_gemm_common.cuh"
#include "mxfp8_gemm_mma.cuh"
#include "wgmma_bf16.cuh"
#include "wgmma_e4m3.cuh"  // wgmma_fence / commit / wait

namespace mxjit {

constexpr int kBf16StageK = 64;      // K positions per pipeline stage
constexpr int kBf16TileGroup = 16;   // row tiles walked together (L2 reuse of the token tiles)

template <int BN>
struct __align__(1024) Bf16GemmStage {
  unsigned char b[BN * kBf16StageK * 2];  // tokens: BN rows of 64 bf16, 128-byte swizzle
  unsigned char a[128 * kBf16StageK];     // weights: 128 rows of 64 e4m3 bytes
  unsigned int a_scales[128];             // the 4 scale bytes of the 128-deep chunk holding the stage
};

// Copies 128 bytes of each of Rows rows into 128-byte shared rows whose 16-byte chunk c lands at chunk
// c ^ (r % 8); row_of(r) names the source row of shared row r (at src + row ld), -1 for zeros. 8
// consecutive threads take one row.
template <int Rows, int Threads, class RowOf>
__device__ __forceinline__ void load_rows_swizzled(unsigned char* dst, const unsigned char* src, long long ld,
                                                   const RowOf& row_of) {
  constexpr int RowStep = Threads / 8;
  static_assert(RowStep % 8 == 0 && Rows % RowStep == 0, "whole rounds of rows, one swizzle per thread");
  const int r = static_cast<int>(threadIdx.x) / 8, kc = static_cast<int>(threadIdx.x) % 8;
  unsigned char* s = dst + r * 128 + (kc ^ (r & 7)) * 16;  // (r + RowStep i) % 8 == r % 8
#pragma unroll
  for (int i = 0; i < Rows / RowStep; ++i) {
    const int row = row_of(r + RowStep * i);
    cp_async<16>(s + i * RowStep * 128, row >= 0 ? src + row * ld + kc * 16 : src, row >= 0 ? 16 : 0);
  }
}

// Shared-memory descriptor of a K-major operand in wgmma's 128-byte swizzle: 128-byte rows, 8-row groups
// 1024 bytes apart, the group base 1024-aligned (a k16 step starts 32 bytes further into the rows).
__device__ __forceinline__ unsigned long long wgmma_descriptor_sw128(const void* smem) {
  const unsigned long long address = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  return ((address >> 4) & 0x3FFFull) | (1ull << 16) | (static_cast<unsigned long long>(1024 >> 4) << 32) |
         (1ull << 62);
}

__device__ __forceinline__ void fence_shared_for_async_proxy() {
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // generic writes -> tensor-core reads
}

// One tile's operands: weight rows [w0, w_rows) of `w`; tokens in the two forms the prepass left, row r
// of the tile being source row token_row(r) (-1: none): `x_bf16` (rows ldx_bf16 elements apart) with one
// `x_exact` byte per source row, and the fp8 operand itself for the exact path; K tiles [kt_begin,
// kt_begin + kt_count) of 128.
struct Bf16TileOperands {
  const unsigned char* w;
  const unsigned char* w_scales;
  long long ldw;
  int ldw_s, w0, w_rows;
  const unsigned short* x_bf16;
  const unsigned char* x_exact;
  long long ldx_bf16;
  const unsigned char* x;
  const unsigned char* x_scales;
  long long ldx;
  int ldx_s, k, kt_begin, kt_count;
};

// The fp32 product of one 128 x BN tile into shared memory, [token][weight] with a pitch of BM + 4
// floats, at `smem` (1024-aligned; the pipeline's memory is reused), visible to every thread on return.
template <int BM, int BN, int Stages, class TokenRow>
__device__ __forceinline__ void wgmma_bf16_tile(unsigned char* smem, const Bf16TileOperands& op,
                                                const TokenRow& token_row) {
  static_assert(BM == 128, "two warpgroups of 64 weight rows");
  static_assert(BN == 64 || BN == 128 || BN == 256, "wgmma wrappers exist for N = 64, 128 and 256");
  static_assert(Stages >= 3, "the stage after the current one must be in flight while a slot refills");
  constexpr int Threads = 256;
  constexpr int Regs = BN / 2;       // accumulator registers per thread for m64nBN
  constexpr int Pitch = BM + 4;      // fp32 result tile [token][weight]: conflict-free fragment stores
  using Stage = Bf16GemmStage<BN>;
  Stage* stages = reinterpret_cast<Stage*>(smem);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int a_row = (warp / 4) * 64 + (warp % 4) * 16 + g;  // this thread's weight rows a_row, a_row + 8
  const int s_begin = 2 * op.kt_begin;  // 64-deep stages: two per 128-deep K tile (zeros past K)
  const int s_count = 2 * op.kt_count;

  bool exact = false;  // this thread saw something the bf16 path cannot take
  for (int r = threadIdx.x; r < BN; r += Threads) {
    const int row = token_row(r);
    exact |= row >= 0 && op.x_exact[row] != 0;
  }

  auto load_stage = [&](int slot, int s) {
    Stage& st = stages[slot];
    const int k0 = (s_begin + s) * kBf16StageK;
#pragma unroll
    for (int i = 0; i < BM / (Threads / 4); ++i) {  // weights: thread x copies chunk x % 4 of row x / 4 + 64 i
      const int r = threadIdx.x / 4 + i * (Threads / 4), kc = (threadIdx.x % 4) * 16;
      const bool in = op.w0 + r < op.w_rows && k0 + kc < op.k;
      cp_async<16>(st.a + r * kBf16StageK + kc, in ? op.w + (op.w0 + r) * op.ldw + k0 + kc : op.w, in ? 16 : 0);
    }
    load_scales<BM, Threads>(st.a_scales, op.w_scales, op.ldw_s, op.k, k0 & ~(kGemmBK - 1), RowRange{op.w0, op.w_rows});
    load_rows_swizzled<BN, Threads>(st.b, reinterpret_cast<const unsigned char*>(op.x_bf16 + k0), op.ldx_bf16 * 2,
                                    token_row);
  };
  // Weight fragments of stage s: k16 step j, fragment position 2t + e + 8u holds stage byte 16t + 4j + u +
  // 2e (the prepass's order), so word j of this thread's 16 bytes of a row is the row's whole step j.
  auto convert_weights = [&](int s, unsigned int (&frag)[4][4]) {
    const Stage& st = stages[s % Stages];
    const uint4 r0 = *reinterpret_cast<const uint4*>(st.a + a_row * kBf16StageK + 16 * t);
    const uint4 r1 = *reinterpret_cast<const uint4*>(st.a + (a_row + 8) * kBf16StageK + 16 * t);
    const int block = 2 * ((s_begin + s) & 1) + t / 2;  // of the 4 in a_scales
    const unsigned int b0 = (st.a_scales[a_row] >> (8 * block)) & 0xFFu;
    const unsigned int b1 = (st.a_scales[a_row + 8] >> (8 * block)) & 0xFFu;
    const unsigned int mult0 = bf16x2_scale_multiplier(b0), mult1 = bf16x2_scale_multiplier(b1);
    const unsigned int w0[4] = {r0.x, r0.y, r0.z, r0.w}, w1[4] = {r1.x, r1.y, r1.z, r1.w};
    unsigned int nans = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      nans |= e4m3_nan_bits(w0[j]) | e4m3_nan_bits(w1[j]);
      frag[j][0] = bf16x2_mul(e4m3_bytes02_to_bf16x2(w0[j]), mult0);
      frag[j][1] = bf16x2_mul(e4m3_bytes02_to_bf16x2(w1[j]), mult1);
      frag[j][2] = bf16x2_mul(e4m3_bytes13_to_bf16x2(w0[j]), mult0);
      frag[j][3] = bf16x2_mul(e4m3_bytes13_to_bf16x2(w1[j]), mult1);
    }
    exact |= block_needs_exact_path(b0, r0.x | r0.y | r0.z | r0.w, nans) |
             block_needs_exact_path(b1, r1.x | r1.y | r1.z | r1.w, 0u);
  };

  float acc[Regs];
#pragma unroll
  for (int i = 0; i < Regs; ++i) acc[i] = 0.f;
  auto issue_mma = [&](int s, const unsigned int (&frag)[4][4]) {
    const unsigned char* b = stages[s % Stages].b;
    __syncwarp();  // wgmma is .sync.aligned: the warp must arrive converged (the checks above may branch)
    wgmma_fence();
#pragma unroll
    for (int j = 0; j < 4; ++j) WgmmaBf16<BN>::run(acc, frag[j], wgmma_descriptor_sw128(b + 32 * j));
    wgmma_commit();
  };
  // One stage: cp.async group g holds stage g (or nothing), so after stage s + Stages - 2 was committed,
  // Stages - 3 newer groups may still be in flight when stage s + 1 must have landed.
  auto step = [&](int s, const unsigned int (&frag)[4][4], unsigned int (&next)[4][4]) {
    issue_mma(s, frag);
    wgmma_wait<1>();
    cp_async_wait<Stages - 3>();
    fence_shared_for_async_proxy();
    __syncthreads();
    if (s + Stages - 1 < s_count) load_stage((s + Stages - 1) % Stages, s + Stages - 1);
    cp_async_commit();
    if (s + 1 < s_count) convert_weights(s + 1, next);
  };

#pragma unroll 1
  for (int s = 0; s < Stages - 1; ++s) {
    if (s < s_count) load_stage(s, s);
    cp_async_commit();
  }
  cp_async_wait<Stages - 2>();
  fence_shared_for_async_proxy();
  __syncthreads();
  unsigned int frag_even[4][4], frag_odd[4][4];  // distinct registers: one set stays in flight
  convert_weights(0, frag_even);
#pragma unroll 1
  for (int s = 0; s < s_count; s += 2) {  // s_count is even
    step(s, frag_even, frag_odd);
    step(s + 1, frag_odd, frag_even);
  }
  wgmma_wait<0>();
  cp_async_wait<0>();

  // The fp32 tile [token][weight] in shared memory, from the accumulators or from the exact recompute.
  float* result = reinterpret_cast<float*>(smem);
  constexpr int ResultBytes = BN * Pitch * 4;
  if (__syncthreads_or(exact)) {
    // Exact fallback for this CTA: the tile again from the fp8 operands through mma.sync with per-block
    // promotion, 64 tokens at a time, one unpipelined K tile after another (rare, and kept small so that
    // it costs the fast path no registers).
    constexpr int ChunkN = BN < 64 ? BN : 64;
    using FallbackStage = GemmStage<BM, ChunkN>;
    static_assert(ResultBytes + sizeof(FallbackStage) <= Stages * sizeof(Stage), "the fallback fits the pipeline's memory");
    auto& stage = *reinterpret_cast<FallbackStage*>(smem + ResultBytes);
#pragma unroll 1
    for (int c = 0; c < BN / ChunkN; ++c) {
      MmaTile<BM, ChunkN, 2, 4> tile;
#pragma unroll 1
      for (int kt = op.kt_begin; kt < op.kt_begin + op.kt_count; ++kt) {
        load_operand<BM, Threads>(stage.a, stage.a_scales, op.w, op.w_scales, op.ldw, op.ldw_s, op.k, kt * kGemmBK,
                                  RowRange{op.w0, op.w_rows});
        load_operand<ChunkN, Threads>(stage.b, stage.b_scales, op.x, op.x_scales, op.ldx, op.ldx_s, op.k, kt * kGemmBK,
                                      [&](int r) { return token_row(c * ChunkN + r); });
        cp_async_commit();
        cp_async_wait<0>();
        __syncthreads();
        tile.accumulate(stage);
        __syncthreads();
      }
      tile.for_each([&](int m, int n, float& v) { result[(c * ChunkN + n) * Pitch + m] = v; });
    }
  } else {
    // Registers 4c..4c+3: weight rows (+0, +0, +8, +8), tokens 8c + 2t + (0, 1, 0, 1).
#pragma unroll
    for (int i = 0; i < Regs; ++i) result[(8 * (i / 4) + 2 * t + i % 2) * Pitch + a_row + 8 * ((i % 4) / 2)] = acc[i];
  }
  __syncthreads();
}

template <int BM, int BN, int Stages, class Out>
__global__ void __launch_bounds__(256, 1) mxfp8_gemm_wgmma_bf16_kernel(const GemmParams p) {
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = reinterpret_cast<unsigned char*>((reinterpret_cast<unsigned long long>(smem_raw) + 1023) & ~1023ull);
  // Tile raster: kBf16TileGroup row tiles at a time walk all column tiles, so the CTAs resident at once
  // share few weight and token tiles in the L2.
  const int row_tiles = (p.m + BM - 1) / BM, col_tiles = (p.n + BN - 1) / BN;
  const int group = static_cast<int>(blockIdx.x) / (kBf16TileGroup * col_tiles);
  const int first_row_tile = group * kBf16TileGroup, group_rows = min(kBf16TileGroup, row_tiles - first_row_tile);
  const int in_group = static_cast<int>(blockIdx.x) - first_row_tile * col_tiles;
  const int m0 = (first_row_tile + in_group % group_rows) * BM, n0 = (in_group / group_rows) * BN;
  const int k_tiles_total = (p.k + kGemmBK - 1) / kGemmBK;
  const int kt_begin = blockIdx.z * p.k_tiles_per_split;
  const Bf16TileOperands op{p.a, p.a_scales, p.lda, p.lda_s, m0, p.m, p.b_bf16, p.b_exact, p.ldb_bf16,
                            p.b, p.b_scales, p.ldb, p.ldb_s, p.k, kt_begin,
                            min(p.k_tiles_per_split, k_tiles_total - kt_begin)};
  wgmma_bf16_tile<BM, BN, Stages>(smem, op, RowRange{n0, p.n});
  float* result = reinterpret_cast<float*>(smem);
  gemm_epilogue<Out, true>(p, [&](auto&& f) {
    // Consecutive threads take consecutive weight rows: consecutive output columns.
#pragma unroll 4
    for (int i = threadIdx.x; i < BM * BN; i += 256) f(m0 + i % BM, n0 + i / BM, result[(i / BM) * (BM + 4) + i % BM]);
  });
}

}  // namespace mxjit
