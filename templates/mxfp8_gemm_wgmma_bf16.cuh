// Exact MXFP8 x MXFP8 -> bf16/fp16 GEMM on Hopper's bf16 tensor cores (wgmma, sm_90a), for more than 16
// tokens (dense here, grouped in mxfp8_grouped_gemm_wgmma_bf16.cuh: both run Bf16Pipeline).
//
// Every operand element is used as bf16 with its scale applied, e4m3 x 2^(b-127), which is exact in
// bf16 on the range of bf16_dequant.cuh; bf16 wgmma (m64nNk16, fp32 accumulators) then sums the whole
// K with no per-block promotion. (Hopper's fp8 wgmma aligns each 32-deep block to ~14 bits, outside
// design.md's 2^-16 sum|ab| bound: ops/gemm.hpp.)
//
// Roles: the kernel's rows are weight rows (p.a, fp8), its columns tokens. The tokens were dequantized
// once, before this launch, by mxfp8_dequantize_bf16.cuh into the workspace (K permuted inside each
// 64-deep chunk, zero past K; for the grouped GEMM gathered into group order) with a per-row `exact`
// flag; the weights are converted here, in registers, into wgmma's register A fragments, where the same
// K permutation makes one 32-bit word of 4 e4m3 bytes a whole fragment step. Nothing is dequantized
// into shared memory.
//
// CTA: persistent, one tile of 128 weight rows x BN (64, 128 or 256) tokens after another, warp-specialized
// (Bf16Pipeline): a producer warpgroup copies stages of 64 K positions, Stages deep, by TMA (the scale bytes
// by cp.async), and two consumer warpgroups of 64 weight rows each convert and issue; mbarriers hand the
// stages over, so no barrier of the whole CTA sits in the main loop, and the producer runs on into the next
// tile while the consumers store the last. A stage holds the tokens' 64 bf16 per row (128 bytes, 16-byte
// chunks XOR-swizzled by row % 8: wgmma's 128-byte swizzle), the weights' 64 bytes per row, and the 4 scale
// bytes of the 128-deep chunk holding the stage. Past the stages lies spare memory for the epilogue's staging
// (store_tile_staged).
//
// Correctness never depends on the data: any weight block outside the fast range, a NaN, or a token row
// flagged by the prepass sends the tile to an exact recompute from the fp8 operands on the mma.sync path
// (MmaTile of mxfp8_gemm_mma.cuh: fp8 mma per 32-deep block, promoted with sa * sb, in the spare
// memory), which takes every scale byte and NaN.
#pragma once

#include "bf16_dequant.cuh"
#include "gemm_tile_raster.cuh"
#include "mxfp8_gemm_common.cuh"
#include "mxfp8_gemm_mma.cuh"
#include "warp_specialization.cuh"
#include "wgmma_bf16.cuh"
#include "wgmma_e4m3.cuh"  // wgmma_fence / commit / wait

namespace mxjit {

constexpr int kBf16StageK = 64;      // K positions per pipeline stage

template <int BN>
struct __align__(1024) Bf16GemmStage {
  unsigned char b[BN * kBf16StageK * 2];  // tokens: BN rows of 64 bf16, 128-byte swizzle
  unsigned char a[128 * kBf16StageK];     // weights: 128 rows of 64 e4m3 bytes
  unsigned int a_scales[128];             // the 4 scale bytes of the 128-deep chunk holding the stage
};

// Shared-memory descriptor of a K-major operand in wgmma's 128-byte swizzle: 128-byte rows, 8-row groups
// 1024 bytes apart, the group base 1024-aligned (a k16 step starts 32 bytes further into the rows).
__device__ __forceinline__ unsigned long long wgmma_descriptor_sw128(const void* smem) {
  const unsigned long long address = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  return ((address >> 4) & 0x3FFFull) | (1ull << 16) | (static_cast<unsigned long long>(1024 >> 4) << 32) |
         (1ull << 62);
}

// One tile's operands: weight rows [w0, w_rows) of `w`; the tokens' `x_exact` bytes from the prepass
// (its bf16 rows come by TMA, Bf16TmaLoads) and the fp8 operand itself for the exact path; K tiles
// [kt_begin, kt_begin + kt_count) of 128, at least one (Bf16Pipeline's cursors step once per stage).
struct Bf16TileOperands {
  const unsigned char* w;
  const unsigned char* w_scales;
  long long ldw;
  int ldw_s, w0, w_rows;
  const unsigned char* x_exact;
  const unsigned char* x;
  const unsigned char* x_scales;
  long long ldx;
  int ldx_s, k, kt_begin, kt_count;
};

// The CTA's roles: two consumer warpgroups (threads 0..255, 64 weight rows each) and one producer
// warpgroup (256..383) that only issues copies, so it gives registers to the consumers' accumulators.
constexpr int kBf16Consumers = 256;
constexpr int kBf16Threads = kBf16Consumers + 128;
constexpr int kBf16ProducerRegisters = 80;   // 128 x 80 + 256 x 208 <= 64K registers
constexpr int kBf16ConsumerRegisters = 208;
constexpr int kBf16ConsumerBarrier = 1;      // named barrier of the consumer warpgroups

// The producer's copies of one pipeline stage, K positions [k0, k0 + 64), made by each of the 128
// producer threads, each of which announces its copies once on the stage's `full` barrier
// (Bf16TmaLoads::arrivals in all). The weight scales go by cp.async (TMA needs 16-byte strides, and K / 32
// scale bytes a row need not be).

// The 4 scale bytes of the 128-deep K tile holding the stage (fewer at the end of K), weight row tid.
__device__ __forceinline__ void load_stage_scales(unsigned int* dst, const Bf16TileOperands& op, int k0, int tid) {
  const int k_tile0 = k0 & ~(kGemmBK - 1), blocks_left = (op.k - k_tile0) / 32, row = op.w0 + tid;
  const bool in = row < op.w_rows && blocks_left > 0;
  cp_async<4>(&dst[tid], in ? op.w_scales + row * static_cast<long long>(op.ldw_s) + k_tile0 / 32 : op.w_scales,
              in ? min(blocks_left, 4) : 0);
}

// The weight and token boxes by TMA from producer thread 0 (zeros past the tensors' ends), the scales by
// cp.async. The weights' map is 2-D [rows, K] for the dense GEMM, 3-D [experts, rows, K] for the grouped
// one, whose tokens' map is over the prepass's rows in group order: a tile's tokens are a box of
// consecutive rows there (past its group's end they belong to the next group, and their results are
// never stored).
struct Bf16TmaLoads {
  const TensorMap* weights;
  const TensorMap* tokens;
  int token0;  // the tile's first token row
  int expert;  // the weights' plane in a 3-D map; -1 for a 2-D one
  static constexpr unsigned int arrivals = 128 + 1;  // every producer thread's announcement, thread 0's expect_tx
  template <int BN>
  __device__ __forceinline__ void operator()(Bf16GemmStage<BN>& st, const Bf16TileOperands& op, int k0, int tid,
                                             unsigned long long* full) const {
    if (tid == 0) {
      mbarrier_arrive_expect_tx(full, sizeof(st.b) + sizeof(st.a));
      tma_load_2d(st.b, tokens, k0, token0, full);
      if (expert < 0) {
        tma_load_2d(st.a, weights, k0, op.w0, full);
      } else {
        tma_load_3d(st.a, weights, k0, op.w0, expert, full);
      }
    }
    load_stage_scales(st.a_scales, op, k0, tid);
  }
};

// Whether a kernel on the pipeline fits a CTA's shared memory on sm_90 (227 KB, static and dynamic
// together): the stages, their alignment slack, the spare memory and the kernel's own static bytes.
template <int BN, int Stages>
constexpr bool bf16_kernel_fits(unsigned long long static_bytes) {
  return Stages * sizeof(Bf16GemmStage<BN>) + 1024 + bf16_spare_bytes(BN) + static_bytes <= 227 * 1024;
}

// The first of a consumer thread's two weight rows of the tile (the other is 8 further): warpgroup
// w / 4 takes 64 rows, its warp w % 4 16 of them (wgmma_bf16.cuh's fragment layout).
__device__ __forceinline__ int bf16_consumer_row() {
  const int warp = threadIdx.x / 32;
  return (warp / 4) * 64 + (warp % 4) * 16 + (threadIdx.x % 32) / 4;
}

// The stage pipeline of one CTA over its whole life, across tiles: stage slots are used round robin,
// `full[slot]` completes when the producer's copies have landed (TMA transaction bytes, counted by the
// hardware, and each producer thread's announcement of its cp.async copies, kAnnounceLag stages late, so
// the producer never waits for fresh data), `empty[slot]` when every consumer warp is done with it (its
// wgmmas retired). The producer runs ahead into the next tile while the consumers store the last one.
// Each role keeps its own cursor: the slot and the parity of its lap.
template <int BN, int Stages>
class Bf16Pipeline {
 public:
  using Stage = Bf16GemmStage<BN>;
  static constexpr int Regs = BN / 2;  // accumulator registers per consumer thread for m64nBN
  static_assert(BN == 64 || BN == 128 || BN == 256, "wgmma wrappers exist for N = 64, 128 and 256");
  // Consumers hold one slot (its wgmmas in flight) while they wait for the next, so the lag may be up to
  // Stages - 2 (CpAsyncAnnouncer). Half of it each for the scale words to land and for the producer's
  // lead (4 stages: lag 1, slack 1; 11: lag 4, slack 5): at lag 2 of 4 stages, the roles waited on each
  // other every stage, and the prefill MoE layers lost 6% (bench/METHOD.md).
  static constexpr int kAnnounceLag = (Stages - 2) / 2;
  static_assert(kAnnounceLag >= 1, "a stage in flight while a slot refills, and one more for the lag");

  // Every thread of the CTA constructs it (the barriers are ready after the constructor's __syncthreads).
  __device__ Bf16Pipeline(unsigned char* smem, unsigned long long* full, unsigned long long* empty)
      : stages_(reinterpret_cast<Stage*>(smem)), full_(full), empty_(empty), announcer_(full) {
    if (threadIdx.x == 0)
      for (int i = 0; i < Stages; ++i) {
        mbarrier_init(&full_[i], Bf16TmaLoads::arrivals);
        mbarrier_init(&empty_[i], kBf16Consumers / 32);  // one arrival per consumer warp
      }
    __syncthreads();
  }

  // Producer thread `tid` (of 128): the copies of one tile's stages, two per 128-deep K tile.
  __device__ __forceinline__ void produce(const Bf16TileOperands& op, const Bf16TmaLoads& loads, int tid) {
#pragma unroll 1
    for (int s = 0; s < 2 * op.kt_count; ++s) {
      mbarrier_wait(&empty_[slot_], phase_ ^ 1);  // the first lap finds every slot free
      loads(stages_[slot_], op, (2 * op.kt_begin + s) * kBf16StageK, tid, &full_[slot_]);
      announcer_.stage_issued();
      advance();
    }
  }

  // Producer threads, after their last tile or before they wait on the consumers: every stage issued.
  __device__ __forceinline__ void announce_all() { announcer_.announce_all(); }

  // Consumer threads: one tile's product into `acc` (zeroed here), weight rows a_row and a_row + 8 of
  // this thread (see wgmma_bf16.cuh). Returns whether a weight block this thread converted needs the
  // exact path. Consumers convert the weights of stage s + 1 while the wgmmas of stage s run, and release
  // every stage of the tile, so the pipeline is empty of it on return.
  __device__ __forceinline__ bool consume(const Bf16TileOperands& op, float (&acc)[Regs]) {
    const int lane = threadIdx.x % 32, t = lane % 4, a_row = bf16_consumer_row();
    bool exact = false;
    // Weight fragments of the current stage, position `odd` in its K tile: k16 step j, fragment position
    // 2t + e + 8u holds stage byte 16t + 4j + u + 2e (the prepass's order), so word j of this thread's
    // 16 bytes of a row is the row's whole step j.
    auto convert_weights = [&](bool odd, unsigned int (&frag)[4][4]) {
      const Stage& st = stages_[slot_];
      const uint4 r0 = *reinterpret_cast<const uint4*>(st.a + a_row * kBf16StageK + 16 * t);
      const uint4 r1 = *reinterpret_cast<const uint4*>(st.a + (a_row + 8) * kBf16StageK + 16 * t);
      const int block = 2 * odd + t / 2;  // of the 4 in a_scales
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
    auto wait_landed = [&] { mbarrier_wait(&full_[slot_], phase_); };
    auto release = [&](int slot) {
      __syncwarp();
      if (lane == 0) mbarrier_arrive(&empty_[slot]);
    };
#pragma unroll
    for (int i = 0; i < Regs; ++i) acc[i] = 0.f;
    const int s_count = 2 * op.kt_count;  // even
    int previous = -1;                    // the slot whose wgmmas may still run
    // One stage: its wgmmas issued, then (while they run) the previous stage's retired and its slot
    // released, and the next stage's weights converted as soon as it has landed.
    auto step = [&](int s, const unsigned int (&frag)[4][4], unsigned int (&next)[4][4]) {
      const unsigned char* b = stages_[slot_].b;
      __syncwarp();  // wgmma is .sync.aligned: the warp must arrive converged (the checks above may branch)
      wgmma_fence();
#pragma unroll
      for (int j = 0; j < 4; ++j) WgmmaBf16<BN>::run(acc, frag[j], wgmma_descriptor_sw128(b + 32 * j));
      wgmma_commit();
      wgmma_wait<1>();
      if (previous >= 0) release(previous);
      previous = slot_;
      advance();
      if (s + 1 < s_count) {
        wait_landed();
        convert_weights((s + 1) & 1, next);
      }
    };
    unsigned int frag_even[4][4], frag_odd[4][4];  // distinct registers: one set stays in flight
    wait_landed();
    convert_weights(false, frag_even);
#pragma unroll 1
    for (int s = 0; s < s_count; s += 2) {
      step(s, frag_even, frag_odd);
      step(s + 1, frag_odd, frag_even);
    }
    wgmma_wait<0>();
    release(previous);
    return exact;
  }

  // The spare memory past the stages (bf16_spare_bytes).
  __device__ unsigned char* spare() const { return reinterpret_cast<unsigned char*>(stages_ + Stages); }

 private:
  __device__ __forceinline__ void advance() {
    if (++slot_ == Stages) {
      slot_ = 0;
      phase_ ^= 1;
    }
  }
  Stage* stages_;
  unsigned long long* full_;
  unsigned long long* empty_;
  CpAsyncAnnouncer<Stages, kAnnounceLag> announcer_;  // the producer threads'
  int slot_ = 0;
  unsigned int phase_ = 0;
};

// Whether a token row of the tile (token_row(r), r < BN) was flagged by the prepass; consumer threads.
template <int BN, class TokenRow>
__device__ __forceinline__ bool tokens_need_exact(const Bf16TileOperands& op, const TokenRow& token_row) {
  bool exact = false;
  for (int r = threadIdx.x; r < BN; r += kBf16Consumers) {
    const int row = token_row(r);
    exact |= row >= 0 && op.x_exact[row] != 0;
  }
  return exact;
}

// The exact fallback for a tile (consumer threads): the tile again from the fp8 operands through
// mma.sync with per-block promotion, 64 tokens at a time, one unpipelined K tile after another, in the
// spare memory; each element goes to sink(weight row, token, value) in tile coordinates. Rare, and kept
// small so that it costs the fast path no registers.
template <int BN, class TokenRow, class Sink>
__device__ __forceinline__ void exact_recompute_tile(unsigned char* spare, const Bf16TileOperands& op,
                                                      const TokenRow& token_row, const Sink& sink) {
  constexpr int ChunkN = 64;
  auto& stage = *reinterpret_cast<GemmStage<128, ChunkN>*>(spare);
#pragma unroll 1
  for (int c = 0; c < BN / ChunkN; ++c) {
    MmaTile<128, ChunkN, 2, 4> tile;
#pragma unroll 1
    for (int kt = op.kt_begin; kt < op.kt_begin + op.kt_count; ++kt) {
      load_operand<128, kBf16Consumers>(stage.a, stage.a_scales, op.w, op.w_scales, op.ldw, op.ldw_s, op.k,
                                        kt * kGemmBK, RowRange{op.w0, op.w_rows});
      load_operand<ChunkN, kBf16Consumers>(stage.b, stage.b_scales, op.x, op.x_scales, op.ldx, op.ldx_s, op.k,
                                           kt * kGemmBK, [&](int r) { return token_row(c * ChunkN + r); });
      cp_async_commit();
      cp_async_wait<0>();
      named_barrier_sync<kBf16ConsumerBarrier, kBf16Consumers>();
      tile.accumulate(stage);
      named_barrier_sync<kBf16ConsumerBarrier, kBf16Consumers>();  // the stage is free again
    }
    tile.for_each([&](int m, int n, float& v) { sink(m, c * ChunkN + n, v); });
  }
}

__device__ __forceinline__ void stmatrix_x4_trans(const void* smem, unsigned int r0, unsigned int r1, unsigned int r2,
                                                  unsigned int r3) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};" ::"r"(shared_address(smem)),
               "r"(r0), "r"(r1), "r"(r2), "r"(r3)
               : "memory");
}

// The consumers' store of a finished tile to a 16-bit output (not split): weight row w of the tile is
// output column w0 + w (`cols` of them exist), token r is the output row at out_row(r) (null: none);
// `bias`, if any, is already offset to w0. The accumulators (plus bias, in fp32) go as Out through
// stmatrix into the staging, kBf16StagingTokens tokens at a time, and leave as 16-byte row chunks
// (element by element where a chunk is cut by `cols` or unaligned). The caller's last consumer barrier
// must follow the previous readers of the spare memory.
template <int BN, class Out, class OutRow>
__device__ __forceinline__ void store_tile_staged(unsigned char* spare, float (&acc)[BN / 2], int cols,
                                                  const unsigned short* bias, const OutRow& out_row) {
  constexpr int Tokens = BN < kBf16StagingTokens ? BN : kBf16StagingTokens;
  unsigned short* staging = reinterpret_cast<unsigned short*>(spare);
  const int lane = threadIdx.x % 32, a_row = bf16_consumer_row(), warp_row = a_row - lane / 4;
  if (bias) {
    const float b0 = a_row < cols ? Out::to_float(bias[a_row]) : 0.f;
    const float b1 = a_row + 8 < cols ? Out::to_float(bias[a_row + 8]) : 0.f;
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] += (i % 4) < 2 ? b0 : b1;
  }
  auto pack = [&](int i) {
    return static_cast<unsigned int>(Out::from_float(acc[i])) | static_cast<unsigned int>(Out::from_float(acc[i + 1])) << 16;
  };
  // stmatrix of lane l writes row l % 8 of matrix l / 8: matrices (c, rows +0), (c, +8), (c+1, +0), (c+1, +8)
  // of 8 tokens x 8 weight rows, transposed into staging rows of tokens.
  const int token_in_pair = 8 * (lane / 16) + lane % 8, row_in_pair = warp_row + 8 * ((lane / 8) % 2);
#pragma unroll
  for (int h = 0; h < BN / Tokens; ++h) {
    if (h > 0) named_barrier_sync<kBf16ConsumerBarrier, kBf16Consumers>();  // the last half is read
#pragma unroll
    for (int c = 0; c < Tokens / 8; c += 2) {
      const int i = 4 * (h * Tokens / 8 + c);
      stmatrix_x4_trans(staging + (8 * c + token_in_pair) * kBf16StagingPitch + row_in_pair, pack(i), pack(i + 2),
                        pack(i + 4), pack(i + 6));
    }
    named_barrier_sync<kBf16ConsumerBarrier, kBf16Consumers>();
#pragma unroll 2
    for (int i = threadIdx.x; i < Tokens * 16; i += kBf16Consumers) {
      const int r = i / 16, col = (i % 16) * 8;
      unsigned short* row = out_row(h * Tokens + r);
      if (row == nullptr || col >= cols) continue;
      const unsigned short* src = staging + r * kBf16StagingPitch + col;
      unsigned short* dst = row + col;
      if (col + 8 <= cols && (reinterpret_cast<unsigned long long>(dst) & 15) == 0) {
        *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
      } else {
        for (int j = 0; j < 8 && col + j < cols; ++j) dst[j] = src[j];
      }
    }
  }
}

// Calls f(weight row, token, value&) for each of a consumer thread's accumulators, in tile coordinates:
// registers 4c..4c+3 are weight rows (+0, +0, +8, +8), tokens 8c + 2t + (0, 1, 0, 1).
template <int BN, class F>
__device__ __forceinline__ void for_each_accumulator(float (&acc)[BN / 2], const F& f) {
  const int a_row = bf16_consumer_row(), t = threadIdx.x % 4;
#pragma unroll
  for (int i = 0; i < BN / 2; ++i) f(a_row + 8 * ((i % 4) / 2), 8 * (i / 4) + 2 * t + i % 2, acc[i]);
}

// Persistent: CTA b walks items b, b + gridDim.x, ... of the GemmTileRaster (the host launches no more
// CTAs than fit at once).
template <int BM, int BN, int Stages, class Out>
__global__ void __launch_bounds__(kBf16Threads, 1) mxfp8_gemm_wgmma_bf16_kernel(const GemmParams p,
                                                                                 const __grid_constant__ GemmTensorMaps maps) {
  static_assert(BM == 128, "two consumer warpgroups of 64 weight rows");
  extern __shared__ unsigned char smem_raw[];
  __shared__ unsigned long long full[Stages], empty[Stages];
  static_assert(bf16_kernel_fits<BN, Stages>(sizeof(full) + sizeof(empty)), "the tile shape fits shared memory");
  Bf16Pipeline<BN, Stages> pipeline(align_shared_1024(smem_raw), full, empty);
  const int k_tiles_total = (p.k + kGemmBK - 1) / kGemmBK;
  const GemmTileRaster raster{(p.m + BM - 1) / BM, (p.n + BN - 1) / BN, p.splits};
  // Item `item`'s tile: its operands, and its first token (column) row.
  auto tile_of = [&](long long item, int& split, int& n0) {
    int row_tile, col_tile;
    raster.tile_of(item, split, row_tile, col_tile);
    n0 = col_tile * BN;
    const int kt_begin = split * p.k_tiles_per_split;
    return Bf16TileOperands{p.a, p.a_scales, p.lda, p.lda_s, row_tile * BM, p.m, p.b_exact, p.b, p.b_scales, p.ldb,
                            p.ldb_s, p.k, kt_begin, min(p.k_tiles_per_split, k_tiles_total - kt_begin)};
  };

  if (threadIdx.x >= kBf16Consumers) {  // the producer warpgroup
    setmaxnreg_dec<kBf16ProducerRegisters>();
    const int tid = threadIdx.x - kBf16Consumers;
#pragma unroll 1
    for (long long item = blockIdx.x; item < raster.items(); item += gridDim.x) {
      int split, n0;
      const Bf16TileOperands op = tile_of(item, split, n0);
      pipeline.produce(op, Bf16TmaLoads{&maps.weights, &maps.tokens, n0, -1}, tid);
    }
    pipeline.announce_all();
    return;
  }
  setmaxnreg_inc<kBf16ConsumerRegisters>();

#pragma unroll 1
  for (long long item = blockIdx.x; item < raster.items(); item += gridDim.x) {
    int split, n0;
    const Bf16TileOperands op = tile_of(item, split, n0);
    const RowRange token_row{n0, p.n};
    float acc[BN / 2];
    bool exact = tokens_need_exact<BN>(op, token_row);
    exact |= pipeline.consume(op, acc);
    // One barrier of the consumers per tile: it decides the path, and it also orders this tile's use of
    // the spare memory after the last tile's.
    const int m0 = op.w0;
    if (named_barrier_or<kBf16ConsumerBarrier, kBf16Consumers>(exact)) {
      exact_recompute_tile<BN>(pipeline.spare(), op, token_row, [&](int m, int n, float v) {
        gemm_store_element<Out, true>(p, split, m0 + m, n0 + n, v);
      });
    } else if (p.splits > 1) {  // fp32 partials straight from the registers
      for_each_accumulator<BN>(acc, [&](int m, int n, float& v) { gemm_store_element<Out, true>(p, split, m0 + m, n0 + n, v); });
    } else {
      unsigned short* out = static_cast<unsigned short*>(p.out);
      const unsigned short* bias = p.bias ? static_cast<const unsigned short*>(p.bias) + m0 : nullptr;
      store_tile_staged<BN, Out>(pipeline.spare(), acc, min(BM, p.m - m0), bias, [&](int r) {
        return n0 + r < p.n ? out + static_cast<long long>(n0 + r) * p.ldo + m0 : nullptr;
      });
    }
  }
}

}  // namespace mxjit
