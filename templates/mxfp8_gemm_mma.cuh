// MXFP8 x MXFP8 -> bf16/fp16 GEMM on mma.sync (sm_89 and newer): the portable path, and the decode path.
//
// Each 32-deep K step is exactly one scale block, so one m16n8k32 fp8 mma gives a partial sum that a
// single power-of-two factor, sa[m] * sb[n], scales exactly; it is promoted into the fp32 accumulator
// right away (fma). Tiles: BM x BN per CTA, 128 bytes of K per pipeline stage (4 scale blocks), staged
// through shared memory with cp.async, Stages deep. Split-K (grid.z) covers small M: each split
// writes fp32 partials, summed in split order by a second launch (deterministic).
// SwapAB (decode): the kernel's A side is the weight and its B side the few tokens, so the m16 side of
// each mma is filled by weight rows instead of 1-16 token rows; the result is stored transposed.
#pragma once

#include "mxfp8_gemm_common.cuh"

namespace mxjit {

__device__ __forceinline__ void mma_e4m3_16x8x32(float (&d)[4], const unsigned int (&a)[4], const unsigned int (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %10, %10, %10};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(0.0f));
}

template <int BM, int BN>
struct GemmStage {
  unsigned char a[BM][kGemmRowPitch];
  unsigned char b[BN][kGemmRowPitch];
  unsigned int a_scales[BM];  // the 4 scale bytes of this stage's 128 K values, per row
  unsigned int b_scales[BN];
};

// Copies K bytes [k0, k0 + 128) of stage rows [0, Rows) and their scales into a stage; row_of(r) names
// the source row of stage row r (-1: zeros), so dense and gathered (grouped) operands share the loader.
template <int Rows, int Threads, class RowOf>
__device__ __forceinline__ void load_operand(unsigned char (*dst)[kGemmRowPitch], unsigned int* dst_scales,
                                             const unsigned char* src, const unsigned char* src_scales, long long ld,
                                             int ld_s, int k, int k0, const RowOf& row_of) {
  constexpr int chunks = Rows * (kGemmBK / 16);
#pragma unroll
  for (int c = threadIdx.x; c < chunks; c += Threads) {
    const int r = c / (kGemmBK / 16), kc = (c % (kGemmBK / 16)) * 16;
    const int row = row_of(r);
    const bool in = row >= 0 && k0 + kc < k;
    const unsigned char* g = in ? src + row * ld + k0 + kc : src;
    cp_async<16>(&dst[r][kc], g, in ? 16 : 0);
  }
  load_scales<Rows, Threads>(dst_scales, src_scales, ld_s, k, k0, row_of);
}

// The fp32 accumulators of a BM x BN CTA tile spread over WarpsM x WarpsN warps, and the mma.sync work on
// one landed stage. Each 32-deep K step is one scale block: one m16n8k32 mma per fragment pair, its partial
// promoted into the accumulator with the power-of-two product sa[m] * sb[n] (exact).
template <int BM, int BN, int WarpsM, int WarpsN>
struct MmaTile {
  static constexpr int WM = BM / WarpsM, WN = BN / WarpsN;  // warp tile
  static constexpr int MI = WM / 16, NI = WN / 8;           // mma tiles per warp
  static_assert(WM % 16 == 0 && WN % 8 == 0, "warp tile must be a multiple of 16 x 8");

  float acc[MI][NI][4];
  int wm0, wn0, g, t;

  __device__ __forceinline__ MmaTile() {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    g = lane / 4;
    t = lane % 4;
    wm0 = (warp / WarpsN) * WM;
    wn0 = (warp % WarpsN) * WN;
    zero();
  }

  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
      for (int j = 0; j < NI; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.f;
  }

  __device__ __forceinline__ void accumulate(const GemmStage<BM, BN>& s) {
#pragma unroll
    for (int kb = 0; kb < kGemmBK / 32; ++kb) {
      unsigned int af[MI][4], bf[NI][2];
      float sa[MI][2], sb[NI][2];
#pragma unroll
      for (int i = 0; i < MI; ++i) {
        const int r = wm0 + i * 16 + g;
        af[i][0] = *reinterpret_cast<const unsigned int*>(&s.a[r][kb * 32 + t * 4]);
        af[i][1] = *reinterpret_cast<const unsigned int*>(&s.a[r + 8][kb * 32 + t * 4]);
        af[i][2] = *reinterpret_cast<const unsigned int*>(&s.a[r][kb * 32 + 16 + t * 4]);
        af[i][3] = *reinterpret_cast<const unsigned int*>(&s.a[r + 8][kb * 32 + 16 + t * 4]);
        sa[i][0] = e8m0_to_float((s.a_scales[r] >> (8 * kb)) & 0xFFu);
        sa[i][1] = e8m0_to_float((s.a_scales[r + 8] >> (8 * kb)) & 0xFFu);
      }
#pragma unroll
      for (int j = 0; j < NI; ++j) {
        const int c = wn0 + j * 8 + g;
        bf[j][0] = *reinterpret_cast<const unsigned int*>(&s.b[c][kb * 32 + t * 4]);
        bf[j][1] = *reinterpret_cast<const unsigned int*>(&s.b[c][kb * 32 + 16 + t * 4]);
        sb[j][0] = e8m0_to_float((s.b_scales[wn0 + j * 8 + 2 * t] >> (8 * kb)) & 0xFFu);
        sb[j][1] = e8m0_to_float((s.b_scales[wn0 + j * 8 + 2 * t + 1] >> (8 * kb)) & 0xFFu);
      }
#pragma unroll
      for (int i = 0; i < MI; ++i)
#pragma unroll
        for (int j = 0; j < NI; ++j) {
          float d[4];
          mma_e4m3_16x8x32(d, af[i], bf[j]);
          // d[0], d[1]: row g, cols 2t, 2t+1; d[2], d[3]: row g + 8.
          acc[i][j][0] = fmaf(d[0], sa[i][0] * sb[j][0], acc[i][j][0]);
          acc[i][j][1] = fmaf(d[1], sa[i][0] * sb[j][1], acc[i][j][1]);
          acc[i][j][2] = fmaf(d[2], sa[i][1] * sb[j][0], acc[i][j][2]);
          acc[i][j][3] = fmaf(d[3], sa[i][1] * sb[j][1], acc[i][j][3]);
        }
    }
  }

  // f(m, n, value&) for every accumulator element of this thread, in tile coordinates.
  template <class F>
  __device__ __forceinline__ void for_each(F&& f) {
#pragma unroll
    for (int i = 0; i < MI; ++i)
#pragma unroll
      for (int j = 0; j < NI; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) f(wm0 + i * 16 + g + (e / 2) * 8, wn0 + j * 8 + 2 * t + e % 2, acc[i][j][e]);
  }
};

template <int BM, int BN, int WarpsM, int WarpsN, int Stages, class Out, bool SwapAB>
__global__ void __launch_bounds__(WarpsM * WarpsN * 32) mxfp8_gemm_mma_kernel(const GemmParams p) {
  constexpr int Threads = WarpsM * WarpsN * 32;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  auto* stages = reinterpret_cast<GemmStage<BM, BN>*>(smem_raw);

  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int k_tiles_total = (p.k + kGemmBK - 1) / kGemmBK;
  const int kt_begin = blockIdx.z * p.k_tiles_per_split;
  const int kt_count = min(p.k_tiles_per_split, k_tiles_total - kt_begin);

  MmaTile<BM, BN, WarpsM, WarpsN> tile;
  auto load_stage = [&](int slot, int kt) {
    GemmStage<BM, BN>& s = stages[slot];
    const int k0 = (kt_begin + kt) * kGemmBK;
    load_operand<BM, Threads>(s.a, s.a_scales, p.a, p.a_scales, p.lda, p.lda_s, p.k, k0, RowRange{m0, p.m});
    load_operand<BN, Threads>(s.b, s.b_scales, p.b, p.b_scales, p.ldb, p.ldb_s, p.k, k0, RowRange{n0, p.n});
  };
  gemm_mainloop<Stages>(kt_count, load_stage, [] {}, [&](int slot) { tile.accumulate(stages[slot]); });

  gemm_epilogue<Out, SwapAB>(p, [&](auto&& f) {
    tile.for_each([&](int m, int n, float& v) { f(m0 + m, n0 + n, v); });
  });
}

}  // namespace mxjit
