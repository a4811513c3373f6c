// MXFP8 decode GEMM on sm_90 (at most 16 tokens): the weight streams through shared memory by TMA,
// Stages deep, so the bytes in flight are set by the pipeline, not by registers.
//
// Decode is memory-bound: each weight byte is read once and the work per byte is small, so a kernel
// must keep enough bytes in flight, keep every SM busy to the end, and issue little per byte (on H100
// the 64-row tile, 2 CTAs per SM, beat deeper pipelines: the consumers' issue is the bound there; see
// bench/METHOD.md). Here:
// - one producer warp issues, per 128-deep K stage, a TMA box of the tile's weight rows and one of the
//   tokens (both 128-byte swizzled; rows past N, tokens past M and K past its end arrive as zeros), and
//   the stage's scale words by cp.async; `full` and `empty` mbarriers hand the stages over, and no
//   CTA-wide barrier sits in the loop;
// - consumer warps of 16 weight rows each read their fragments with ldmatrix (conflict-free on the
//   swizzle), release the slot at once, and compute: fp8 -> f16 in registers, two m16n8k16 f16 mma per
//   32-deep scale block (exact products, fp32 sums), promoted with the power-of-two sa * sb (exact, as in
//   mxfp8_gemm_mma.cuh);
// - the grid is persistent and the work is split stream-K style: the (row tile, K stage) iterations,
//   tile-major, are cut into one contiguous, equal range per CTA, so every SM streams the same number of
//   bytes whatever N and K are. A tile whose K a CTA walks whole is stored directly; a tile shared by
//   several CTAs leaves one fp32 partial per CTA, summed in CTA order by a second launch
//   (mxfp8_gemm_decode_reduce.cuh; deterministic).
// Kernel coordinates as the SwapAB GEMMs: p.a / p.m are the weights [N, K], p.b / p.n the tokens [M, K].
#pragma once

#include "grid_dependency.cuh"
#include "mxfp8_gemm_common.cuh"
#include "warp_specialization.cuh"

namespace mxjit {

template <int Rows, int Tokens>
struct __align__(1024) DecodeStage {
  unsigned char w[Rows * kGemmBK];    // weight rows of 128 bytes, 16-byte chunk c of row r at c ^ (r % 8)
  unsigned char x[Tokens * kGemmBK];  // token rows, the same
  unsigned int w_scales[Rows];        // the 4 scale bytes of the stage's blocks, per weight row
  unsigned int x_scales[Tokens];
};

// Where in the partials CTA c of the walk leaves its fp32 partial of `tile` ([Tokens][Rows]): slot 0 for
// the tile it starts in, slot 1 for the tile it ends in (a CTA that starts and ends in one tile uses slot 0).
// `work` is a DecodeWork or any type with its members (the grouped walk's, which never cuts some tiles).
template <int Rows, int Tokens, class Work>
__device__ __forceinline__ long long decode_partial(const Work& work, int c, long long tile) {
  const int slot = work.begin(c) / work.k_stages == tile ? 0 : 1;
  return (2ll * c + slot) * Tokens * Rows;
}

// 16-byte row `row` (0..7 within its matrix) of four 8x8 b16 matrices at the given addresses: thread
// (g, t) receives bytes [4t, 4t + 4) of row g of matrix i in r[i].
__device__ __forceinline__ void ldmatrix_x4(unsigned int (&r)[4], unsigned int address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// Two e4m3 bytes (of the low or high half of w) as an f16x2, exactly; NaN stays NaN.
__device__ __forceinline__ unsigned int e4m3x2_to_f16x2(unsigned int w, bool high) {
  unsigned int d;
  const unsigned short half = static_cast<unsigned short>(high ? w >> 16 : w & 0xFFFFu);
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(d) : "h"(half));
  return d;
}

__device__ __forceinline__ void mma_f16_16x8x16(float (&d)[4], const unsigned int (&a)[4], unsigned int b0,
                                                unsigned int b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The shared address of 16-byte chunk `chunk` of row `row` in a 128-byte-swizzled stage buffer.
__device__ __forceinline__ unsigned int swizzled_chunk(const unsigned char* base, int row, int chunk) {
  return shared_address(base) + row * kGemmBK + ((chunk ^ (row & 7)) << 4);
}

// One consumer warp's share of a landed stage: the fragments of its 16 weight rows and of all tokens.
template <int Rows, int Tokens>
struct DecodeFragments {
  static constexpr int NT = Tokens / 8;  // n8 token tiles
  unsigned int w[4][4];                  // per scale block: ldmatrix of rows 0-7 / 8-15, chunks 2b / 2b + 1
  unsigned int x[NT][4][2];              // per token tile and block: chunks 2b / 2b + 1 of token g
  unsigned int w_scales[2], x_scales[NT][2];

  __device__ __forceinline__ void load(const DecodeStage<Rows, Tokens>& st, int warp, int lane) {
    const int i = lane / 8, r = lane % 8;  // this lane addresses row r of matrix i
#pragma unroll
    for (int b = 0; b < 4; ++b) ldmatrix_x4(w[b], swizzled_chunk(st.w, warp * 16 + (i & 1) * 8 + r, 2 * b + i / 2));
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int half = 0; half < 2; ++half) {  // blocks 2 half and 2 half + 1: chunks 4 half + i
        unsigned int v[4];
        ldmatrix_x4(v, swizzled_chunk(st.x, 8 * j + r, 4 * half + i));
        x[j][2 * half][0] = v[0];
        x[j][2 * half][1] = v[1];
        x[j][2 * half + 1][0] = v[2];
        x[j][2 * half + 1][1] = v[3];
      }
    const int g = lane / 4, t = lane % 4;
    w_scales[0] = st.w_scales[warp * 16 + g];
    w_scales[1] = st.w_scales[warp * 16 + g + 8];
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      x_scales[j][0] = st.x_scales[8 * j + 2 * t];
      x_scales[j][1] = st.x_scales[8 * j + 2 * t + 1];
    }
  }

  // acc[j] += this stage's products. The scale bytes become floats in two integer ops each unless a
  // scale word of some lane of the warp holds a 0 or 255 byte (real data at 2^-127 or NaN, or blocks
  // past K): then the full conversion, ~100 instructions more a stage. Padding rows and tokens carry
  // the scale byte 127 (decode_load_scales), so decode's few tokens keep the short path.
  __device__ __forceinline__ void accumulate(float (&acc)[NT][4]) const {
    unsigned int special = e8m0_word_has_special(w_scales[0]) | e8m0_word_has_special(w_scales[1]);
#pragma unroll
    for (int j = 0; j < NT; ++j) special |= e8m0_word_has_special(x_scales[j][0]) | e8m0_word_has_special(x_scales[j][1]);
    // One path for the whole warp: its mmas are .sync.aligned, and lanes that split here hang the warp
    // (the first GPU run of this change, on random scales with 0 bytes in some lanes only).
    if (__any_sync(0xFFFFFFFFu, special != 0)) accumulate_scaled<false>(acc);
    else accumulate_scaled<true>(acc);
  }

  // Per block, the weight bytes converted once for all token tiles. Thread t holds K bytes [4t, 4t + 4)
  // of chunks 2b and 2b + 1 in both operands; the f16 mma's K slots (2t, 2t + 1) and (2t + 8, 2t + 9)
  // take the low and high byte pairs of one chunk, alike on both sides.
  template <bool NormalScales>
  __device__ __forceinline__ void accumulate_scaled(float (&acc)[NT][4]) const {
    const auto scale = [](unsigned int word, int b) { return e8m0_byte_to_float<NormalScales>(word, b); };
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      unsigned int a[2][4];
#pragma unroll
      for (int c = 0; c < 2; ++c) {  // w[b][c * 2]: rows 0-7 of chunk 2b + c, w[b][c * 2 + 1]: rows 8-15
        a[c][0] = e4m3x2_to_f16x2(w[b][2 * c], false);
        a[c][1] = e4m3x2_to_f16x2(w[b][2 * c + 1], false);
        a[c][2] = e4m3x2_to_f16x2(w[b][2 * c], true);
        a[c][3] = e4m3x2_to_f16x2(w[b][2 * c + 1], true);
      }
      const float sw0 = scale(w_scales[0], b);
      const float sw1 = scale(w_scales[1], b);
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        float d[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int c = 0; c < 2; ++c)
          mma_f16_16x8x16(d, a[c], e4m3x2_to_f16x2(x[j][b][c], false), e4m3x2_to_f16x2(x[j][b][c], true));
        const float sx0 = scale(x_scales[j][0], b);
        const float sx1 = scale(x_scales[j][1], b);
        // d[0], d[1]: weight row g, tokens 2t, 2t + 1; d[2], d[3]: row g + 8. Zero-filled rows and tokens
        // have factor 1, blocks past K scale bytes 0 (finite factors of zeros); a NaN scale byte gives NaN.
        acc[j][0] = fmaf(d[0], sw0 * sx0, acc[j][0]);
        acc[j][1] = fmaf(d[1], sw0 * sx1, acc[j][1]);
        acc[j][2] = fmaf(d[2], sw1 * sx0, acc[j][2]);
        acc[j][3] = fmaf(d[3], sw1 * sx1, acc[j][3]);
      }
    }
  }
};

// The scale words of the stage's 4 blocks (K bytes [k0, k0 + 128)) by cp.async from the producer lanes:
// weight row r of the tile from w_scales + w_row(r) ld_w, token r from x_scales + x_row(r) ld_x. A row
// of -1 (its data are zeros) gets the bytes 127, a factor of 1 that keeps the consumers' short scale path;
// blocks past K get zeros.
template <int Rows, int Tokens, class WeightRow, class TokenRow>
__device__ __forceinline__ void decode_load_scales(DecodeStage<Rows, Tokens>& st, const unsigned char* w_scales,
                                                   long long ld_w, const WeightRow& w_row, const unsigned char* x_scales,
                                                   long long ld_x, const TokenRow& x_row, int k, int k0, int lane) {
  const int blocks = min((k - k0) / 32, 4);
  for (int r = lane; r < Rows + Tokens; r += 32) {
    const bool weight = r < Rows;
    const int row = weight ? w_row(r) : x_row(r - Rows);
    const unsigned char* src = weight ? w_scales + row * ld_w : x_scales + row * ld_x;
    unsigned int* dst = weight ? &st.w_scales[r] : &st.x_scales[r - Rows];
    if (row >= 0) cp_async<4>(dst, src + k0 / 32, blocks);
    else *dst = kE8m0OnesWord;
  }
}

// One CTA's share of the walk, both roles (threads: Rows / 16 consumer warps, then the producer warp).
// The operands come from `walk`, which names what a work tile is and moves its data:
//   Tile tile(long long index)               the work tile of that index (tile-major order)
//   void load(Stage&, const Tile&, int k0, int lane, unsigned long long* full)
//                                            the producer lanes' copies of one stage: TMA boxes counted on
//                                            `full` by lane 0's expect_tx, cp.async copies that the walk
//                                            announces (CpAsyncAnnouncer)
//   void store(const Tile&, int r, int token, float v)
//                                            a finished element: weight row r of the tile, token `token`
// Tiles the CTA walks whole are stored; those it shares leave partials (decode_partial) for the second
// launch.
template <int Rows, int Tokens, int Stages, class Work, class Walk>
__device__ __forceinline__ void decode_tma_walk(unsigned char* smem_raw, const Work& work, float* partials,
                                                const Walk& walk) {
  static_assert(Rows % 16 == 0 && Rows <= 256 && (Tokens == 8 || Tokens == 16) && Stages >= 2, "tile shape");
  constexpr int Consumers = Rows / 16;
  using Stage = DecodeStage<Rows, Tokens>;
  Stage* stages = reinterpret_cast<Stage*>(align_shared_1024(smem_raw));
  __shared__ unsigned long long full[Stages], empty[Stages];

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0)
    for (int s = 0; s < Stages; ++s) {
      mbarrier_init(&full[s], 32 + 1);      // every producer lane's announcement, and lane 0's expect_tx
      mbarrier_init(&empty[s], Consumers);  // one arrival per consumer warp
    }
  __syncthreads();
  allow_next_grid_start();  // the shared-tile sum may launch now and wait for this grid on the device
  const long long begin = work.begin(blockIdx.x), end = work.begin(blockIdx.x + 1);

  if (warp == Consumers) {  // the producer: stage n in slot n % Stages
    // Launched early after the tokens' quantize (LaunchConfig::early_start), the CTA is set up by now;
    // the consumers read only what this warp loads.
    wait_for_previous_grid();
    // Consumers hold no slot while they wait, so the announcements may lag by up to Stages - 1; half the
    // ring gives the scale words (from DRAM, with the weights) that long to land before the lane waits.
    CpAsyncAnnouncer<Stages, Stages / 2> announcer(full);
    long long n = 0;
#pragma unroll 1
    for (long long it = begin; it < end;) {
      const long long index = it / work.k_stages, tile_end = min(end, (index + 1) * work.k_stages);
      const auto tile = walk.tile(index);
#pragma unroll 1
      for (; it < tile_end; ++it, ++n) {
        const int slot = static_cast<int>(n % Stages);
        mbarrier_wait(&empty[slot], ((n / Stages) & 1) ^ 1);  // a fresh barrier's "previous" phase is complete
        walk.load(stages[slot], tile, static_cast<int>(it - index * work.k_stages) * kGemmBK, lane, &full[slot]);
        announcer.stage_issued();
      }
    }
    announcer.announce_all();
    return;
  }

  using Fragments = DecodeFragments<Rows, Tokens>;
  const int g = lane / 4, t = lane % 4;
  long long n = 0;
#pragma unroll 1
  for (long long it = begin; it < end;) {  // one segment: the iterations of one tile
    const long long index = it / work.k_stages, tile_begin = index * work.k_stages;
    const long long segment_end = min(end, tile_begin + work.k_stages);
    const bool whole = it == tile_begin && segment_end == tile_begin + work.k_stages;
    float acc[Fragments::NT][4] = {};
#pragma unroll 1
    for (; it < segment_end; ++it, ++n) {
      const int slot = static_cast<int>(n % Stages);
      mbarrier_wait(&full[slot], (n / Stages) & 1);
      Fragments f;
      f.load(stages[slot], warp, lane);
      // The refill is a TMA write: without the fence it may land before these ldmatrix reads are performed
      // (on H100 one launch in three of the 264-CTA walk differed in a few bf16 ulps; bench/METHOD.md).
      fence_proxy_async_shared();
      __syncwarp();
      if (lane == 0) mbarrier_arrive(&empty[slot]);  // the fragments are in registers: refill the slot
      f.accumulate(acc);
    }
    const auto tile = walk.tile(index);
    float* partial = whole ? nullptr : partials + decode_partial<Rows, Tokens>(work, blockIdx.x, index);
#pragma unroll
    for (int j = 0; j < Fragments::NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = warp * 16 + g + 8 * (e / 2), token = 8 * j + 2 * t + e % 2;
        if (partial) partial[token * Rows + r] = acc[j][e];
        else walk.store(tile, r, token, acc[j][e]);
      }
  }
}

// The second launch's share, for CTA c's boundary (c >= 1) of the walk: when CTA c starts inside a tile
// and is the first to do so, that tile's partials are summed in CTA order (deterministic) and stored
// through walk.store; CTAs with no iterations left no partials. Each of the kDecodeReduceThreads threads
// owns Elems elements of the tile and loads them for one part at a time, all in flight together.
template <int Rows, int Tokens, class Work, class Walk>
__device__ __forceinline__ void decode_reduce_boundary(const Work& work, const float* partials, int c,
                                                       const Walk& walk) {
  constexpr int Elems = Rows * Tokens / kDecodeReduceThreads;
  static_assert(Elems * kDecodeReduceThreads == Rows * Tokens, "whole elements per thread");
  const long long i = work.begin(c);
  if (i == work.begin(c + 1) || i % work.k_stages == 0) return;  // empty, or at a tile's start
  const long long index = i / work.k_stages, first = index * work.k_stages;
  const int c_first = work.cta_of(first), c_last = work.cta_of(first + work.k_stages - 1);
  if (work.cta_of(i - 1) != c_first) return;  // an earlier boundary of this tile sums it
  float v[Elems];
#pragma unroll
  for (int j = 0; j < Elems; ++j) v[j] = 0.f;
#pragma unroll 1
  for (int part = c_first; part <= c_last; ++part) {
    if (work.begin(part) == work.begin(part + 1)) continue;
    const float* src = partials + decode_partial<Rows, Tokens>(work, part, index) + threadIdx.x;
    float x[Elems];
#pragma unroll
    for (int j = 0; j < Elems; ++j) x[j] = __ldcg(src + j * kDecodeReduceThreads);
#pragma unroll
    for (int j = 0; j < Elems; ++j) v[j] += x[j];
  }
  const auto tile = walk.tile(index);
#pragma unroll
  for (int j = 0; j < Elems; ++j) {
    const int e = threadIdx.x + j * kDecodeReduceThreads;
    walk.store(tile, e % Rows, e / Rows, v[j]);
  }
}

// The dense GEMM's walk: work tile `index` is weight rows [index Rows, +Rows) against all tokens, both
// operands by TMA boxes (GemmTensorMaps; zeros past N, M and K).
template <int Rows, int Tokens, class Out>
struct DenseDecodeWalk {
  const GemmParams& p;
  const GemmTensorMaps* maps;  // null in the second launch, which only stores
  struct Tile {
    int row0;
  };
  __device__ __forceinline__ Tile tile(long long index) const { return {static_cast<int>(index * Rows)}; }

  __device__ __forceinline__ void load(DecodeStage<Rows, Tokens>& st, const Tile& tile, int k0, int lane,
                                       unsigned long long* full) const {
    if (lane == 0) {
      mbarrier_arrive_expect_tx(full, sizeof(st.w) + sizeof(st.x));
      tma_load_2d(st.w, &maps->weights, k0, tile.row0, full);
      tma_load_2d(st.x, &maps->tokens, k0, 0, full);
    }
    decode_load_scales(st, p.a_scales, p.lda_s, [&](int r) { return tile.row0 + r < p.m ? tile.row0 + r : -1; },
                       p.b_scales, p.ldb_s, [&](int r) { return r < p.n ? r : -1; }, p.k, k0, lane);
  }

  __device__ __forceinline__ void store(const Tile& tile, int r, int token, float v) const {
    const int row = tile.row0 + r;
    if (row >= p.m || token >= p.n) return;
    if (p.bias) v += Out::to_float(static_cast<const unsigned short*>(p.bias)[row]);
    static_cast<unsigned short*>(p.out)[static_cast<long long>(token) * p.ldo + row] = Out::from_float(v);
  }
};

template <int Rows, int Tokens, int Stages, class Out>
__global__ void __launch_bounds__(Rows * 2 + 32) mxfp8_gemm_decode_tma_kernel(const GemmParams p,
                                                                              const __grid_constant__ GemmTensorMaps maps) {
  extern __shared__ unsigned char smem_raw[];
  decode_tma_walk<Rows, Tokens, Stages>(smem_raw, p.decode, p.partials, DenseDecodeWalk<Rows, Tokens, Out>{p, &maps});
}

}  // namespace mxjit
