// Exact MXFP8 x MXFP8 -> bf16/fp16 GEMM on Hopper's bf16 tensor cores (wgmma, sm_90a).
//
// Every operand element is dequantized to bf16 with its scale applied, e4m3 x 2^(b-127), which is exact
// in bf16; bf16 wgmma (m64nNk16, fp32 accumulators) then sums the whole K with no per-block promotion.
// Hopper's fp8 wgmma aligns each 32-deep block to ~14 bits (ops/gemm.hpp); bf16 wgmma meets design.md's
// 2^-16 sum|ab| bound.
//
// CTA: 128 x BN (BN = 128 or 256), two warpgroups of 64 rows, no producer warps: all 256 threads copy,
// dequantize and issue. Pipeline:
// - fp8 stages of 128 K bytes (4 scale blocks) arrive by cp.async, Stages deep, rows zero-filled past
//   M, N and K. Rows are 128 bytes with their 16-byte chunks XOR-swizzled by row % 8 (conflict-free
//   loads below, no padding).
// - Sub-stage s is half a stage (64 K positions, 4 k16 steps). While the warpgroups' wgmmas of sub-stage s
//   run, the threads dequantize B of sub-stage s + 1 from fp8 shared memory into one of three bf16 tiles
//   in wgmma's no-swizzle K-major layout (8-row x 16-byte core matrices: 128 bytes apart along K, 1024
//   along N), fence it for the async proxy, and meet at one barrier per sub-stage. Three bf16 tiles let a
//   warpgroup keep its last sub-stage's wgmmas in flight across that barrier.
// - A never goes to bf16 shared memory: each thread reads its fp8 bytes, converts them in registers and
//   passes them as wgmma's register A fragment.
// - K is permuted inside each 128-deep stage, alike in A and B (the scales are already folded into the
//   values, so any order gives the same sum): k16 step j, fragment position 2t + e + 8u (thread t = lane %
//   4 of a quad) holds stage byte 32t + 4j + u + 2e. A thread's A bytes are then the 32 contiguous bytes of
//   scale block t of its two rows, and one 32-bit word of 4 e4m3 bytes gives one step's fragment words
//   directly: bytes (0, 2) -> positions (2t, 2t+1), bytes (1, 3) -> (2t+8, 2t+9).
//
// Conversion: an e4m3 byte's 7 magnitude bits placed at bf16 bits 4..10 (sign at 15) are the bf16 bits of
// x 2^-120 for every byte but NaN (the 4-bit exponent field becomes bf16's, and a subnormal e4m3, field
// 0, the bf16 subnormal with the same mantissa); one mul.rn.bf16x2 by 2^(b-7) then gives x 2^(b-127)
// exactly. That needs 2^(b-7) to be a normal bf16 (b <= 134) and the result to be normal, b >= 10 (the
// smallest e4m3 subnormal 2^-9 lands on 2^-126): the fast path takes scale bytes in [10, 134], i.e. blocks
// whose largest |x| is below 448 x 2^7.
//
// Correctness never depends on the data. The multiplier is taken for min(b, 134), always finite, and every
// thread checks the block parts it converts: a scale byte outside [10, 134] over a non-zero element, a NaN
// scale byte (255: the whole block is NaN) or a NaN element (0x7F / 0xFF) under any scale sends the tile
// to the exact path; all-zero blocks (scale byte 0 from the quantizer, the zero fill past M, N and K)
// stay on the fast one. If any thread of the CTA saw such a block, the CTA discards its accumulators and
// recomputes its tile from global memory on the exact mma.sync path (MmaTile of mxfp8_gemm_mma.cuh: fp8
// mma per 32-deep block, promoted with sa * sb), which takes every scale byte and NaN. Epilogue and
// split-K: mxfp8_gemm_common.cuh.
#pragma once

#include "mxfp8_gemm_common.cuh"
#include "mxfp8_gemm_mma.cuh"
#include "wgmma_bf16.cuh"
#include "wgmma_e4m3.cuh"  // wgmma_fence / commit / wait and the shared-memory descriptor

namespace mxjit {

// Scale bytes of the dequantizing path (see the file comment); others send the tile to the exact fallback.
constexpr unsigned int kBf16ScaleMin = 10, kBf16ScaleMax = 134;
constexpr int kBf16SubK = kGemmBK / 2;              // K positions per sub-stage
constexpr int kBf16TileRowBytes = kBf16SubK * 2;    // bytes of one B row in a bf16 tile
constexpr int kBf16Tiles = 3;                       // bf16 B tiles in rotation

template <int BN>
struct __align__(128) Bf16Fp8Stage {
  unsigned char a[128 * kGemmBK];  // 128-byte rows, 16-byte chunk c of row r stored at chunk c ^ (r % 8)
  unsigned char b[BN * kGemmBK];
  unsigned int a_scales[128];      // the 4 scale bytes of the stage, per row
  unsigned int b_scales[BN];
};

// Copies K bytes [k0, k0 + 128) of rows [row0, row0 + Rows) into a swizzled stage; zeros past `rows` and K.
// Thread x copies 16-byte column x % 8 of rows x / 8 + 32 i: 8 consecutive threads take one row's 128
// contiguous bytes, and a chunk costs one pointer step (no per-chunk index arithmetic).
template <int Rows, int Threads>
__device__ __forceinline__ void load_operand_swizzled(unsigned char* dst, unsigned int* dst_scales,
                                                      const unsigned char* src, const unsigned char* src_scales,
                                                      long long ld, int ld_s, int rows, int k, int row0, int k0) {
  constexpr int RowStep = Threads / 8;
  static_assert(RowStep % 8 == 0 && Rows % RowStep == 0, "whole rounds of rows, one swizzle per thread");
  const int r = static_cast<int>(threadIdx.x) / 8, kc = static_cast<int>(threadIdx.x) % 8;
  const int rows_left = rows - row0 - r;  // chunk i holds data when RowStep i < rows_left
  const bool k_in = k0 + kc * 16 < k;
  const unsigned char* g = src + (row0 + r) * ld + k0 + kc * 16;  // dereferenced only for real data
  unsigned char* s = dst + r * kGemmBK + (kc ^ (r & 7)) * 16;     // (r + RowStep i) % 8 == r % 8
#pragma unroll
  for (int i = 0; i < Rows / RowStep; ++i) {
    const bool in = k_in && RowStep * i < rows_left;
    cp_async<16>(s + i * RowStep * kGemmBK, in ? g + i * RowStep * ld : src, in ? 16 : 0);
  }
  load_scales<Rows, Threads>(dst_scales, src_scales, ld_s, k, k0, RowRange{row0, rows});
}

// bf16 bits of (e4m3 byte x 2^-120) for bytes 0 and 2 of w (low half first): exact except for NaN bytes.
__device__ __forceinline__ unsigned int e4m3_bytes02_to_bf16x2(unsigned int w) {
  return ((w & 0x007F007Fu) << 4) | ((w << 8) & 0x80008000u);
}
// The same for bytes 1 and 3.
__device__ __forceinline__ unsigned int e4m3_bytes13_to_bf16x2(unsigned int w) {
  return ((w >> 4) & 0x07F007F0u) | (w & 0x80008000u);
}
// Bit 7 of a byte of the result is set where that byte of w is an e4m3 NaN (magnitude 0x7F).
__device__ __forceinline__ unsigned int e4m3_nan_bits(unsigned int w) { return (w & 0x7F7F7F7Fu) + 0x01010101u; }
// 2^(b-7) in both halves of a bf16x2 (a normal bf16 for b <= 134).
__device__ __forceinline__ unsigned int bf16x2_scale_multiplier(unsigned int b) {
  return ((b + 120u) << 7) * 0x00010001u;
}
__device__ __forceinline__ unsigned int bf16x2_mul(unsigned int a, unsigned int b) {
  unsigned int d;
  asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
}
__device__ __forceinline__ bool outside_bf16_scale_range(unsigned int b) {
  return b - kBf16ScaleMin > kBf16ScaleMax - kBf16ScaleMin;  // unsigned: also b < kBf16ScaleMin
}
// Non-zero when a byte of `bytes` lies outside [10, 134]: a byte below 128 must be >= 10, one from 128 on
// must be <= 134. Byte-wise: (b | 0x80) - c never borrows from the next byte.
__device__ __forceinline__ unsigned int scale_bytes_outside_bf16_range(unsigned int bytes) {
  static_assert(kBf16ScaleMin == 10 && kBf16ScaleMax == 134, "the byte-wise test below");
  const unsigned int high = bytes | 0x80808080u;
  const unsigned int ge10 = high - 0x0A0A0A0Au;  // bit 7 of a byte: (b & 0x7F) >= 10
  const unsigned int ge7 = high - 0x07070707u;   // bit 7 of a byte: (b & 0x7F) >= 7
  return ((~bytes & ~ge10) | (bytes & ge7)) & 0x80808080u;
}
// Whether a block part seen by one thread needs the exact path: its scale byte is outside the fast range
// and it holds a non-zero element (zeros stay zeros under the clamped multiplier), or the scale is NaN
// (255: the whole block is NaN). `magnitudes` is the or of the part's bytes, 0x7F-masked.
__device__ __forceinline__ bool block_needs_exact_path(unsigned int b, unsigned int magnitudes) {
  return outside_bf16_scale_range(b) && (b == 255u || magnitudes != 0);
}

template <int BM, int BN, int Stages, class Out>
__global__ void __launch_bounds__(256, 1) mxfp8_gemm_wgmma_bf16_kernel(const GemmParams p) {
  static_assert(BM == 128, "two consumer warpgroups of 64 rows");
  static_assert(BN == 128 || BN == 256, "wgmma wrappers exist for N = 128 and 256");
  static_assert(Stages >= 2, "the stage after the current one must be in shared memory");
  constexpr int Threads = 256;
  constexpr int Regs = BN / 2;  // accumulator registers per thread for m64nBN
  constexpr int TileBytes = BN * kBf16TileRowBytes;
  using Stage = Bf16Fp8Stage<BN>;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  Stage* stages = reinterpret_cast<Stage*>(smem_raw);
  unsigned char* bf16_tiles = smem_raw + Stages * sizeof(Stage);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int a_row = (warp / 4) * 64 + (warp % 4) * 16 + g;     // A rows a_row and a_row + 8; a_row % 8 == g
  const int b_row = warp * 16 + (lane >> 4) * 8 + (lane & 7);  // B rows b_row + 128 u it dequantizes
  const int b_steps = (lane >> 3) & 1;                         // ... in k16 steps 2 b_steps, 2 b_steps + 1
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int k_tiles_total = (p.k + kGemmBK - 1) / kGemmBK;
  const int kt_begin = blockIdx.z * p.k_tiles_per_split;
  const int kt_count = min(p.k_tiles_per_split, k_tiles_total - kt_begin);

  float acc[Regs];
#pragma unroll
  for (int i = 0; i < Regs; ++i) acc[i] = 0.f;
  bool bad_scale = false;      // a block that needs the exact path (block_needs_exact_path)
  unsigned int nan_bits = 0;   // e4m3_nan_bits of every byte converted, or-ed

  auto load_stage = [&](int slot, int kt) {
    Stage& s = stages[slot];
    const int k0 = (kt_begin + kt) * kGemmBK;
    load_operand_swizzled<BM, Threads>(s.a, s.a_scales, p.a, p.a_scales, p.lda, p.lda_s, p.m, p.k, m0, k0);
    load_operand_swizzled<BN, Threads>(s.b, s.b_scales, p.b, p.b_scales, p.ldb, p.ldb_s, p.n, p.k, n0, k0);
  };

  // B of half h of stage kt -> bf16 tile. Each thread takes 2 k16 steps of a row: 8 bytes from each of
  // the 4 scale blocks, written as 4 core-matrix rows of 16 bytes.
  auto dequantize_b = [&](int kt, int h, unsigned char* tile) {
    const Stage& s = stages[kt % Stages];
#pragma unroll
    for (int u = 0; u < BN / 128; ++u) {
      const int n = b_row + 128 * u;
      const unsigned int scales = s.b_scales[n];
      uint2 w[4];
      unsigned int mult[4];
#pragma unroll
      for (int blk = 0; blk < 4; ++blk) {
        w[blk] = *reinterpret_cast<const uint2*>(s.b + n * kGemmBK + ((2 * blk + h) ^ (n & 7)) * 16 + b_steps * 8);
        mult[blk] = bf16x2_scale_multiplier(min((scales >> (8 * blk)) & 0xFFu, kBf16ScaleMax));
        nan_bits |= e4m3_nan_bits(w[blk].x) | e4m3_nan_bits(w[blk].y);
      }
      if (scale_bytes_outside_bf16_range(scales) != 0) {  // rare: zero blocks (scale byte 0) mostly
#pragma unroll
        for (int blk = 0; blk < 4; ++blk)
          bad_scale |= block_needs_exact_path((scales >> (8 * blk)) & 0xFFu, (w[blk].x | w[blk].y) & 0x7F7F7F7Fu);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        unsigned int word[4];
#pragma unroll
        for (int blk = 0; blk < 4; ++blk) word[blk] = i == 0 ? w[blk].x : w[blk].y;
        const uint4 low = make_uint4(bf16x2_mul(e4m3_bytes02_to_bf16x2(word[0]), mult[0]),
                                     bf16x2_mul(e4m3_bytes02_to_bf16x2(word[1]), mult[1]),
                                     bf16x2_mul(e4m3_bytes02_to_bf16x2(word[2]), mult[2]),
                                     bf16x2_mul(e4m3_bytes02_to_bf16x2(word[3]), mult[3]));
        const uint4 high = make_uint4(bf16x2_mul(e4m3_bytes13_to_bf16x2(word[0]), mult[0]),
                                      bf16x2_mul(e4m3_bytes13_to_bf16x2(word[1]), mult[1]),
                                      bf16x2_mul(e4m3_bytes13_to_bf16x2(word[2]), mult[2]),
                                      bf16x2_mul(e4m3_bytes13_to_bf16x2(word[3]), mult[3]));
        // Core matrices (step, positions 0-7) and (step, positions 8-15) of row group n / 8.
        unsigned char* cm = tile + ((n >> 3) * 8 + 2 * (2 * b_steps + i)) * 128 + (n & 7) * 16;
        *reinterpret_cast<uint4*>(cm) = low;
        *reinterpret_cast<uint4*>(cm + 128) = high;
      }
    }
  };

  // A of stage kt for this thread: rows a_row (.r0) and a_row + 8 (.r1), the 16 bytes of each half.
  struct AWords {
    uint4 r0[2], r1[2];
    unsigned int mult0, mult1;
  } a_words;
  auto read_a = [&](int kt) {
    const Stage& s = stages[kt % Stages];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int chunk = ((2 * t + h) ^ g) * 16;
      a_words.r0[h] = *reinterpret_cast<const uint4*>(s.a + a_row * kGemmBK + chunk);
      a_words.r1[h] = *reinterpret_cast<const uint4*>(s.a + (a_row + 8) * kGemmBK + chunk);
    }
    // This thread's 32 bytes of each row are the whole of the row's scale block t.
    const unsigned int s0 = (s.a_scales[a_row] >> (8 * t)) & 0xFFu, s1 = (s.a_scales[a_row + 8] >> (8 * t)) & 0xFFu;
    a_words.mult0 = bf16x2_scale_multiplier(min(s0, kBf16ScaleMax));
    a_words.mult1 = bf16x2_scale_multiplier(min(s1, kBf16ScaleMax));
    if (outside_bf16_scale_range(s0) || outside_bf16_scale_range(s1)) {  // rare: zero blocks mostly
      const uint4 x = a_words.r0[0], y = a_words.r0[1], u = a_words.r1[0], v = a_words.r1[1];
      bad_scale |= block_needs_exact_path(s0, (x.x | x.y | x.z | x.w | y.x | y.y | y.z | y.w) & 0x7F7F7F7Fu);
      bad_scale |= block_needs_exact_path(s1, (u.x | u.y | u.z | u.w | v.x | v.y | v.z | v.w) & 0x7F7F7F7Fu);
    }
  };
  // Register A fragments of the 4 k16 steps of half h.
  auto a_fragments = [&](int h, unsigned int (&frag)[4][4]) {
    const unsigned int w0[4] = {a_words.r0[h].x, a_words.r0[h].y, a_words.r0[h].z, a_words.r0[h].w};
    const unsigned int w1[4] = {a_words.r1[h].x, a_words.r1[h].y, a_words.r1[h].z, a_words.r1[h].w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      nan_bits |= e4m3_nan_bits(w0[i]) | e4m3_nan_bits(w1[i]);
      frag[i][0] = bf16x2_mul(e4m3_bytes02_to_bf16x2(w0[i]), a_words.mult0);
      frag[i][1] = bf16x2_mul(e4m3_bytes02_to_bf16x2(w1[i]), a_words.mult1);
      frag[i][2] = bf16x2_mul(e4m3_bytes13_to_bf16x2(w0[i]), a_words.mult0);
      frag[i][3] = bf16x2_mul(e4m3_bytes13_to_bf16x2(w1[i]), a_words.mult1);
    }
  };

  // cp.async groups: one commit per sub-stage (most empty); stage j's copies are the group of sub-stage
  // 2 (j - Stages) + 1, issued once slot j % Stages is free (its A words are in registers and its B
  // dequantized). At the end of sub-stage s, stage s / 2 + 1 must have landed: 2 Stages - 3 newer groups.
#pragma unroll 1
  for (int q = 0; q < 2 * Stages - 1; ++q) {
    if (q % 2 == 0 && q / 2 < kt_count) load_stage(q / 2, q / 2);
    cp_async_commit();
  }
  cp_async_wait<2 * Stages - 2>();  // stage 0
  __syncthreads();
  dequantize_b(0, 0, bf16_tiles);
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // generic writes -> tensor-core reads
  __syncthreads();

  // Sub-stage s = 2 kt + h: wgmma on bf16 tile s % 3 with A from `frag`; dequantize sub-stage s + 1.
  unsigned int frag_even[4][4], frag_odd[4][4];  // distinct registers: one set stays in flight
  auto sub_stage = [&](int kt, int h, unsigned int (&frag)[4][4]) {
    const int s = 2 * kt + h;
    if (h == 0) {
      cp_async_commit();
      read_a(kt);
    } else {
      if (kt + Stages < kt_count) load_stage(kt % Stages, kt + Stages);
      cp_async_commit();
    }
    a_fragments(h, frag);
    const unsigned char* b_tile = bf16_tiles + (s % kBf16Tiles) * TileBytes;
    // The range checks above branch per thread (zero blocks, rows past M or N); wgmma is .sync.aligned:
    // every thread of the warp must arrive converged.
    __syncwarp();
    wgmma_fence();
#pragma unroll
    for (int i = 0; i < 4; ++i)  // step i: 2 core matrices along K (128 bytes apart), row groups 1024 apart
      WgmmaBf16<BN>::run(acc, frag[i], wgmma_descriptor(b_tile + i * 256, 128, 1024));
    wgmma_commit();
    unsigned char* next_tile = bf16_tiles + ((s + 1) % kBf16Tiles) * TileBytes;
    if (h == 0)
      dequantize_b(kt, 1, next_tile);
    else if (kt + 1 < kt_count)
      dequantize_b(kt + 1, 0, next_tile);
    // This warpgroup's wgmmas of sub-stage s - 1 are done: after the barrier nobody reads tile (s - 1) % 3,
    // which the next sub-stage rewrites.
    wgmma_wait<1>();
    cp_async_wait<2 * Stages - 3>();
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    __syncthreads();
  };
  for (int kt = 0; kt < kt_count; ++kt) {
    sub_stage(kt, 0, frag_even);
    sub_stage(kt, 1, frag_odd);
  }
  wgmma_wait<0>();
  cp_async_wait<0>();

  if (__syncthreads_or(bad_scale || (nan_bits & 0x80808080u) != 0)) {
    // Exact fallback for this CTA: the tile again from global memory through mma.sync with per-block
    // promotion, 64 columns at a time, one unpipelined K tile after another (this path is rare; it is kept
    // small so that it costs the fast path no registers), into an fp32 tile in shared memory.
    constexpr int ChunkN = 64;
    using FallbackStage = GemmStage<BM, ChunkN>;
    constexpr int ResultBytes = BM * BN * 4;
    static_assert(ResultBytes + sizeof(FallbackStage) <= Stages * sizeof(Stage) + kBf16Tiles * TileBytes,
                  "the fallback must fit the shared memory of the fast path");
    float* result = reinterpret_cast<float*>(smem_raw);  // [BM][BN]
    auto& stage = *reinterpret_cast<FallbackStage*>(smem_raw + ResultBytes);
#pragma unroll 1
    for (int c = 0; c < BN / ChunkN; ++c) {
      MmaTile<BM, ChunkN, 2, 4> tile;
#pragma unroll 1
      for (int kt = 0; kt < kt_count; ++kt) {
        const int k0 = (kt_begin + kt) * kGemmBK;
        load_operand<BM, Threads>(stage.a, stage.a_scales, p.a, p.a_scales, p.lda, p.lda_s, p.k, k0, RowRange{m0, p.m});
        load_operand<ChunkN, Threads>(stage.b, stage.b_scales, p.b, p.b_scales, p.ldb, p.ldb_s, p.k, k0,
                                      RowRange{n0 + c * ChunkN, p.n});
        cp_async_commit();
        cp_async_wait<0>();
        __syncthreads();
        tile.accumulate(stage);
        __syncthreads();
      }
      tile.for_each([&](int m, int n, float& v) { result[m * BN + c * ChunkN + n] = v; });
    }
    __syncthreads();
    // Back into the accumulator registers: one epilogue for both paths.
#pragma unroll
    for (int i = 0; i < Regs; ++i) acc[i] = result[(a_row + 8 * ((i % 4) / 2)) * BN + 8 * (i / 4) + 2 * t + i % 2];
  }

  gemm_epilogue<Out, false>(p, [&](auto&& f) {
    // Registers 4c..4c+3: rows (+0, +0, +8, +8), columns 8c + 2t + (0, 1, 0, 1).
#pragma unroll
    for (int i = 0; i < Regs; ++i) f(m0 + a_row + 8 * ((i % 4) / 2), n0 + 8 * (i / 4) + 2 * t + i % 2, acc[i]);
  });
}

}  // namespace mxjit
