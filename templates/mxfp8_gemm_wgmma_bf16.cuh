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
// CTA: 128 weight rows x BN (64, 128 or 256) tokens, warp-specialized (wgmma_bf16_tile): a producer
// warpgroup copies stages of 64 K positions, Stages deep, by TMA (by cp.async for the grouped GEMM, whose
// token rows are gathered), and two consumer warpgroups of 64
// weight rows each convert and issue; mbarriers hand the stages over, so no barrier of the whole CTA
// sits in the main loop. A stage holds the tokens' 64 bf16 per row (128 bytes, 16-byte chunks
// XOR-swizzled by row % 8: wgmma's 128-byte swizzle), the weights' 64 bytes per row, and the 4 scale
// bytes of the 128-deep chunk holding the stage.
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
#include "warp_specialization.cuh"
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
// consecutive threads (tid of Threads) take one row.
template <int Rows, int Threads, class RowOf>
__device__ __forceinline__ void load_rows_swizzled(unsigned char* dst, const unsigned char* src, long long ld, int tid,
                                                   const RowOf& row_of) {
  constexpr int RowStep = Threads / 8;
  static_assert(RowStep % 8 == 0 && Rows % RowStep == 0, "whole rounds of rows, one swizzle per thread");
  const int r = tid / 8, kc = tid % 8;
  unsigned char* s = dst + r * 128 + (kc ^ (r & 7)) * 16;  // (r + RowStep i) % 8 == r % 8
#pragma unroll  // independent copies back to back: a rolled loop waits on each copy's address registers
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

// The CTA's roles: two consumer warpgroups (threads 0..255, 64 weight rows each) and one producer
// warpgroup (256..383) that only issues copies, so it gives registers to the consumers' accumulators.
constexpr int kBf16Consumers = 256;
constexpr int kBf16Threads = kBf16Consumers + 128;
constexpr int kBf16ProducerRegisters = 72;   // 128 x 72 + 256 x 208 <= 64K registers
constexpr int kBf16ConsumerRegisters = 208;
constexpr int kBf16ConsumerBarrier = 1;      // named barrier of the consumer warpgroups

// The producer's copies of one pipeline stage, K positions [k0, k0 + 64), made by each of the 128
// producer threads, each arriving once on the stage's `full` barrier (Loads::arrivals in all). Two
// sources: the dense GEMM's TMA boxes and the grouped GEMM's cp.async gathers. The weight scales always
// go by cp.async (TMA needs 16-byte strides, and K / 32 scale bytes a row need not be).

// The 4 scale bytes of the 128-deep K tile holding the stage (fewer at the end of K), weight row tid.
__device__ __forceinline__ void load_stage_scales(unsigned int* dst, const Bf16TileOperands& op, int k0, int tid) {
  const int k_tile0 = k0 & ~(kGemmBK - 1), blocks_left = (op.k - k_tile0) / 32, row = op.w0 + tid;
  const bool in = row < op.w_rows && blocks_left > 0;
  cp_async<4>(&dst[tid], in ? op.w_scales + row * static_cast<long long>(op.ldw_s) + k_tile0 / 32 : op.w_scales,
              in ? min(blocks_left, 4) : 0);
}

// Dense GEMM: the weight and token boxes by TMA from producer thread 0 (zeros past the tensors' ends),
// the scales by cp.async.
struct Bf16TmaLoads {
  const TensorMap* weights;
  const TensorMap* tokens;
  int token0;  // the tile's first token row
  static constexpr unsigned int arrivals = 128 + 1;  // every producer thread, and thread 0's expect_tx
  static constexpr bool generic_writes = false;       // wgmma's operands all arrive by TMA
  template <int BN>
  __device__ __forceinline__ void operator()(Bf16GemmStage<BN>& st, const Bf16TileOperands& op, int k0, int tid,
                                             unsigned long long* full) const {
    if (tid == 0) {
      mbarrier_arrive_expect_tx(full, sizeof(st.b) + sizeof(st.a));
      tma_load_2d(st.b, tokens, k0, token0, full);
      tma_load_2d(st.a, weights, k0, op.w0, full);
    }
    load_stage_scales(st.a_scales, op, k0, tid);
    mbarrier_arrive_on_cp_async(full);
  }
};

// Grouped GEMM: token rows gathered through token_row, so everything by cp.async (one-row TMA boxes for
// the tokens, 256 a stage, measured 40% slower at 1a5bb03; a 3-D TMA map for the weights 2-10% slower at
// 7e7740d), and consumers fence the stage for wgmma's async proxy.
template <class TokenRow>
struct Bf16GatherLoads {
  TokenRow token_row;
  static constexpr unsigned int arrivals = 128;
  static constexpr bool generic_writes = true;
  template <int BN>
  __device__ __forceinline__ void operator()(Bf16GemmStage<BN>& st, const Bf16TileOperands& op, int k0, int tid,
                                             unsigned long long* full) const {
#pragma unroll
    for (int i = 0; i < 4; ++i) {  // weights: thread x copies 16-byte chunk x % 4 of row x / 4 + 32 i
      const int r = tid / 4 + i * 32, kc = (tid % 4) * 16;
      const bool in = op.w0 + r < op.w_rows && k0 + kc < op.k;
      cp_async<16>(st.a + r * kBf16StageK + kc, in ? op.w + (op.w0 + r) * op.ldw + k0 + kc : op.w, in ? 16 : 0);
    }
    load_stage_scales(st.a_scales, op, k0, tid);
    load_rows_swizzled<BN, 128>(st.b, reinterpret_cast<const unsigned char*>(op.x_bf16 + k0), op.ldx_bf16 * 2, tid,
                                token_row);
    mbarrier_arrive_on_cp_async(full);
  }
};

// Pipeline: stage s lives in slot s % Stages. full[slot] completes when the producer's copies of a stage
// have landed (TMA transaction bytes and cp.async arrivals, both counted by the hardware, so the producer
// never waits for data); empty[slot] completes when every consumer warp is done with it (its wgmmas retired).
// Consumers convert the weights of stage s + 1 while the wgmmas of stage s run. Tokens that TMA wrote are
// in the async proxy like wgmma itself; cp.async ones (Loads::generic_writes) are fenced for it.
template <int BM, int BN, int Stages, class Loads, class TokenRow>
__device__ __forceinline__ bool wgmma_bf16_tile(unsigned char* smem, const Bf16TileOperands& op, const Loads& loads,
                                                const TokenRow& token_row) {
  static_assert(BM == 128, "two consumer warpgroups of 64 weight rows");
  static_assert(BN == 64 || BN == 128 || BN == 256, "wgmma wrappers exist for N = 64, 128 and 256");
  static_assert(Stages >= 3, "a stage in flight while a slot refills");
  constexpr int Regs = BN / 2;       // accumulator registers per thread for m64nBN
  constexpr int Pitch = BM + 4;      // fp32 result tile [token][weight]: conflict-free fragment stores
  using Stage = Bf16GemmStage<BN>;
  Stage* stages = reinterpret_cast<Stage*>(smem);
  __shared__ unsigned long long full[Stages], empty[Stages];
  const int s_count = 2 * op.kt_count;  // 64-deep stages: two per 128-deep K tile (zeros past K)

  if (threadIdx.x == 0)
    for (int i = 0; i < Stages; ++i) {
      mbarrier_init(&full[i], Loads::arrivals);
      mbarrier_init(&empty[i], kBf16Consumers / 32);  // one arrival per consumer warp
    }
  __syncthreads();

  if (threadIdx.x >= kBf16Consumers) {  // the producer warpgroup
    setmaxnreg_dec<kBf16ProducerRegisters>();
    const int tid = threadIdx.x - kBf16Consumers;
#pragma unroll 1
    for (int s = 0; s < s_count; ++s) {
      if (s >= Stages) mbarrier_wait(&empty[s % Stages], (s / Stages - 1) & 1);
      loads(stages[s % Stages], op, (2 * op.kt_begin + s) * kBf16StageK, tid, &full[s % Stages]);
    }
    cp_async_commit();  // the copies land before the thread exits
    cp_async_wait<0>();
    return false;
  }
  setmaxnreg_inc<kBf16ConsumerRegisters>();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int a_row = (warp / 4) * 64 + (warp % 4) * 16 + g;  // this thread's weight rows a_row, a_row + 8
  bool exact = false;  // this thread saw something the bf16 path cannot take
  for (int r = threadIdx.x; r < BN; r += kBf16Consumers) {
    const int row = token_row(r);
    exact |= row >= 0 && op.x_exact[row] != 0;
  }

  // Weight fragments of stage s: k16 step j, fragment position 2t + e + 8u holds stage byte 16t + 4j + u +
  // 2e (the prepass's order), so word j of this thread's 16 bytes of a row is the row's whole step j.
  auto convert_weights = [&](int s, unsigned int (&frag)[4][4]) {
    const Stage& st = stages[s % Stages];
    const uint4 r0 = *reinterpret_cast<const uint4*>(st.a + a_row * kBf16StageK + 16 * t);
    const uint4 r1 = *reinterpret_cast<const uint4*>(st.a + (a_row + 8) * kBf16StageK + 16 * t);
    const int block = 2 * ((2 * op.kt_begin + s) & 1) + t / 2;  // of the 4 in a_scales
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

  auto wait_landed = [&](int s) {
    mbarrier_wait(&full[s % Stages], (s / Stages) & 1);
    if (Loads::generic_writes) fence_shared_for_async_proxy();  // cp.async bytes, then read by wgmma
  };
  float acc[Regs];
#pragma unroll
  for (int i = 0; i < Regs; ++i) acc[i] = 0.f;
  // One stage: its wgmmas issued, then (while they run) the previous stage's retired and its slot released,
  // and the next stage's weights converted as soon as it has landed.
  auto step = [&](int s, const unsigned int (&frag)[4][4], unsigned int (&next)[4][4]) {
    const unsigned char* b = stages[s % Stages].b;
    __syncwarp();  // wgmma is .sync.aligned: the warp must arrive converged (the checks above may branch)
    wgmma_fence();
#pragma unroll
    for (int j = 0; j < 4; ++j) WgmmaBf16<BN>::run(acc, frag[j], wgmma_descriptor_sw128(b + 32 * j));
    wgmma_commit();
    wgmma_wait<1>();
    if (s >= 1) {
      __syncwarp();
      if (lane == 0) mbarrier_arrive(&empty[(s - 1) % Stages]);
    }
    if (s + 1 < s_count) {
      wait_landed(s + 1);
      convert_weights(s + 1, next);
    }
  };
  unsigned int frag_even[4][4], frag_odd[4][4];  // distinct registers: one set stays in flight
  wait_landed(0);
  convert_weights(0, frag_even);
#pragma unroll 1
  for (int s = 0; s < s_count; s += 2) {  // s_count is even
    step(s, frag_even, frag_odd);
    step(s + 1, frag_odd, frag_even);
  }
  wgmma_wait<0>();

  // The fp32 tile [token][weight] in shared memory, from the accumulators or from the exact recompute.
  // The barrier also retires both warpgroups' reads of the last stage before the memory is reused.
  float* result = reinterpret_cast<float*>(smem);
  constexpr int ResultBytes = BN * Pitch * 4;
  if (named_barrier_or<kBf16ConsumerBarrier, kBf16Consumers>(exact)) {
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
        load_operand<BM, kBf16Consumers>(stage.a, stage.a_scales, op.w, op.w_scales, op.ldw, op.ldw_s, op.k,
                                         kt * kGemmBK, RowRange{op.w0, op.w_rows});
        load_operand<ChunkN, kBf16Consumers>(stage.b, stage.b_scales, op.x, op.x_scales, op.ldx, op.ldx_s, op.k,
                                             kt * kGemmBK, [&](int r) { return token_row(c * ChunkN + r); });
        cp_async_commit();
        cp_async_wait<0>();
        named_barrier_sync<kBf16ConsumerBarrier, kBf16Consumers>();
        tile.accumulate(stage);
        named_barrier_sync<kBf16ConsumerBarrier, kBf16Consumers>();
      }
      tile.for_each([&](int m, int n, float& v) { result[(c * ChunkN + n) * Pitch + m] = v; });
    }
  } else {
    // Registers 4c..4c+3: weight rows (+0, +0, +8, +8), tokens 8c + 2t + (0, 1, 0, 1).
#pragma unroll
    for (int i = 0; i < Regs; ++i) result[(8 * (i / 4) + 2 * t + i % 2) * Pitch + a_row + 8 * ((i % 4) / 2)] = acc[i];
  }
  named_barrier_sync<kBf16ConsumerBarrier, kBf16Consumers>();
  return true;
}

template <int BM, int BN, int Stages, class Out>
__global__ void __launch_bounds__(kBf16Threads, 1) mxfp8_gemm_wgmma_bf16_kernel(const GemmParams p,
                                                                                 const __grid_constant__ GemmTensorMaps maps) {
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = align_shared_1024(smem_raw);
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
  const Bf16TmaLoads loads{&maps.weights, &maps.tokens, n0};
  if (!wgmma_bf16_tile<BM, BN, Stages>(smem, op, loads, RowRange{n0, p.n})) return;  // the producer is done
  const float* result = reinterpret_cast<const float*>(smem);
  gemm_epilogue<Out, true>(p, [&](auto&& f) {
    // Consecutive threads take consecutive weight rows: consecutive output columns.
#pragma unroll 4
    for (int i = threadIdx.x; i < BM * BN; i += kBf16Consumers) {
      float v = result[(i / BM) * (BM + 4) + i % BM];
      f(m0 + i % BM, n0 + i / BM, v);
    }
  });
}

}  // namespace mxjit
