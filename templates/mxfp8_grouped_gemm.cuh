// Grouped MXFP8 GEMM over experts (the MoE layer), on the mma.sync tile of mxfp8_gemm_mma.cuh.
//
// One persistent launch: every CTA first turns the per-expert row counts (device memory) into a running
// total of work tiles in shared memory, then walks tiles blockIdx.x, blockIdx.x + gridDim.x, ...; a tile
// is (expert, token tile, weight tile), token tiles fastest so CTAs running together share a weight
// tile in L2. Experts with no rows own no tiles. SwapAB (decode, few rows per expert) puts the weight
// rows on the mma's 16-row side and the expert's tokens on its 8-column side, as the dense decode path.
#pragma once

#include "mxfp8_gemm_mma.cuh"
#include "mxfp8_grouped_gemm_params.cuh"

namespace mxjit {

// First row and row count of expert e's group, clamped so that no row outside [0, out_rows) is named.
__device__ __forceinline__ void expert_rows(const GroupedGemmParams& p, int e, int& begin, int& count) {
  if (p.offsets) {
    begin = min(max(p.offsets[e], 0), p.out_rows);
    count = min(max(p.offsets[e + 1], begin), p.out_rows) - begin;
  } else {
    begin = e * p.capacity;
    count = min(max(p.counts[e], 0), p.capacity);
  }
}

template <int BM, int BN, int WarpsM, int WarpsN, int Stages, class Out, bool SwapAB>
__global__ void __launch_bounds__(WarpsM * WarpsN * 32, 1) mxfp8_grouped_gemm_kernel(const GroupedGemmParams p) {
  constexpr int Threads = WarpsM * WarpsN * 32;
  constexpr int TokenTile = SwapAB ? BN : BM, WeightTile = SwapAB ? BM : BN;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  auto* stages = reinterpret_cast<GemmStage<BM, BN>*>(smem_raw);
  __shared__ int tiles_through[kGroupedGemmMaxExperts];  // tiles of experts 0..e
  __shared__ int token_row[TokenTile];                   // source row of each token of the current tile

  const int weight_tiles = (p.n + WeightTile - 1) / WeightTile;
  if (threadIdx.x < 32) {  // warp 0: per-lane partial sums over a run of experts, then a warp scan
    const int lane = threadIdx.x, per_lane = (p.experts + 31) / 32;
    const int e_begin = min(lane * per_lane, p.experts), e_end = min(e_begin + per_lane, p.experts);
    int run = 0;
    for (int e = e_begin; e < e_end; ++e) {
      int begin, count;
      expert_rows(p, e, begin, count);
      run += (count + TokenTile - 1) / TokenTile * weight_tiles;
      tiles_through[e] = run;
    }
    int before = run;
#pragma unroll
    for (int d = 1; d < 32; d *= 2) {
      const int x = __shfl_up_sync(0xFFFFFFFFu, before, d);
      if (lane >= d) before += x;
    }
    before -= run;  // exclusive
    for (int e = e_begin; e < e_end; ++e) tiles_through[e] += before;
  }
  __syncthreads();
  const int total = tiles_through[p.experts - 1];
  const int k_tiles = (p.k + kGemmBK - 1) / kGemmBK;

  // The current tile, found once by thread 0 and kept in shared memory: the main loop needs every register.
  __shared__ struct {
    int expert, row_begin, count, t0, w0;
  } work;
  for (int w = blockIdx.x; w < total; w += gridDim.x) {
    __syncthreads();  // the previous tile is done with the stages, token_row and work
    if (threadIdx.x == 0) {
      int lo = 0, hi = p.experts - 1;  // the expert owning tile w: the first with tiles_through > w
      while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (tiles_through[mid] > w) hi = mid;
        else lo = mid + 1;
      }
      const int local = w - (lo > 0 ? tiles_through[lo - 1] : 0);
      expert_rows(p, lo, work.row_begin, work.count);
      const int token_tiles = (work.count + TokenTile - 1) / TokenTile;
      work.expert = lo;
      work.t0 = (local % token_tiles) * TokenTile;
      work.w0 = (local / token_tiles) * WeightTile;
    }
    __syncthreads();
    for (int r = threadIdx.x; r < TokenTile; r += Threads) {
      int src = -1;
      if (work.t0 + r < work.count) {
        const int row = work.row_begin + work.t0 + r;
        src = p.a_rows ? p.a_rows[row] : row;
        if (src >= p.a_row_count) src = -1;
      }
      token_row[r] = src < 0 ? -1 : src;
    }
    __syncthreads();

    const int w0 = work.w0;
    const unsigned char* b = p.b + work.expert * p.b_expert_stride;
    const unsigned char* b_scales = p.b_scales + work.expert * p.b_scales_expert_stride;
    const auto tokens = [&](int r) { return token_row[r]; };
    MmaTile<BM, BN, WarpsM, WarpsN> tile;
    auto load_stage = [&](int slot, int kt) {
      GemmStage<BM, BN>& s = stages[slot];
      const int k0 = kt * kGemmBK;
      if (SwapAB) {
        load_operand<BM, Threads>(s.a, s.a_scales, b, b_scales, p.ldb, p.ldb_s, p.k, k0, RowRange{w0, p.n});
        load_operand<BN, Threads>(s.b, s.b_scales, p.a, p.a_scales, p.lda, p.lda_s, p.k, k0, tokens);
      } else {
        load_operand<BM, Threads>(s.a, s.a_scales, p.a, p.a_scales, p.lda, p.lda_s, p.k, k0, tokens);
        load_operand<BN, Threads>(s.b, s.b_scales, b, b_scales, p.ldb, p.ldb_s, p.k, k0, RowRange{w0, p.n});
      }
    };
    gemm_mainloop<Stages>(k_tiles, load_stage, [] {}, [&](int slot) { tile.accumulate(stages[slot]); });

    unsigned short* out = static_cast<unsigned short*>(p.out);
    // Re-read from shared memory rather than kept live through the main loop.
    const unsigned short* bias =
        p.bias ? static_cast<const unsigned short*>(p.bias) + static_cast<long long>(work.expert) * p.n : nullptr;
    const int t0 = work.t0, count = work.count, row_begin = work.row_begin, col0 = work.w0;
    tile.for_each([&](int m, int n, float& v) {
      const int token = t0 + (SwapAB ? n : m), col = col0 + (SwapAB ? m : n);
      if (token >= count || col >= p.n) return;
      const float x = bias ? v + Out::to_float(bias[col]) : v;
      out[(row_begin + token) * p.ldo + col] = Out::from_float(x);
    });
  }
}

}  // namespace mxjit
