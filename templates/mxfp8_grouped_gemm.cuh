// Grouped MXFP8 GEMM over experts (the MoE layer), on the mma.sync tile of mxfp8_gemm_mma.cuh.
//
// One persistent launch: every CTA first turns the per-expert row counts (device memory) into a running
// total of work tiles in shared memory, then walks tiles blockIdx.x, blockIdx.x + gridDim.x, ...; a tile
// is (expert, token tile, weight tile), token tiles fastest so CTAs running together share a weight
// tile in L2. Experts with no rows own no tiles. SwapAB (decode, few rows per expert) puts the weight
// rows on the mma's 16-row side and the expert's tokens on its 8-column side, as the dense decode path.
#pragma once

#include "grid_dependency.cuh"
#include "mxfp8_gemm_mma.cuh"
#include "mxfp8_gemm_stream.cuh"
#include "mxfp8_grouped_gemm_schedule.cuh"

namespace mxjit {

template <int BM, int BN, int WarpsM, int WarpsN, int Stages, class Out, bool SwapAB>
__global__ void __launch_bounds__(WarpsM * WarpsN * 32, 1) mxfp8_grouped_gemm_kernel(const GroupedGemmParams p) {
  start_in_stream_order();
  constexpr int Threads = WarpsM * WarpsN * 32;
  constexpr int TokenTile = SwapAB ? BN : BM, WeightTile = SwapAB ? BM : BN;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  auto* stages = reinterpret_cast<GemmStage<BM, BN>*>(smem_raw);
  __shared__ int tiles_through[kGroupedGemmMaxExperts];  // tiles of experts 0..e
  __shared__ int token_row[TokenTile];                   // source row of each token of the current tile

  grouped_tile_prefix(p, TokenTile, (p.n + WeightTile - 1) / WeightTile, tiles_through);
  const int total = tiles_through[p.experts - 1];
  const int k_tiles = (p.k + kGemmBK - 1) / kGemmBK;

  __shared__ GroupedWork work;
  for (int w = blockIdx.x; w < total; w += gridDim.x) {
    grouped_next_work<TokenTile, WeightTile, Threads>(p, tiles_through, w, work, token_row);
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

// Grouped decode GEMM: the streaming kernel of mxfp8_gemm_stream.cuh over (expert, token tile of
// Tokens rows, 16 weight rows) work tiles. Persistent, as the work list lives on the device; each worker
// (the K-split warps of one row group) finds its tiles on its own, so workers never wait for each other.
template <int Tokens, int Warps, int Groups, class Out>
__global__ void __launch_bounds__(Warps * 32) mxfp8_grouped_gemm_stream_kernel(const GroupedGemmParams p) {
  start_in_stream_order();
  __shared__ float partial[Warps][Tokens / 8][4][32];
  __shared__ int tiles_through[kGroupedGemmMaxExperts];
  const StreamSplit<Warps> split(p.k_split);
  int group_begin, group_end;
  stream_k_range(p.k, split.k_part, split.k_split, group_begin, group_end);
  grouped_tile_prefix(p, Tokens, (p.n + 15) / 16, tiles_through);
  const int total = tiles_through[p.experts - 1];
  const StreamOperand x{p.a, p.a_scales, p.lda, p.lda_s};
  const int g = threadIdx.x % 32 / 4;

  for (int w = split.worker(); w < total; w += split.workers()) {
    const int e = expert_of_tile(tiles_through, p.experts, w);
    const int local = w - (e > 0 ? tiles_through[e - 1] : 0);
    int row_begin, count;
    expert_rows(p, e, row_begin, count);
    const int token_tiles = (count + Tokens - 1) / Tokens;
    const int t0 = (local % token_tiles) * Tokens, row0 = (local / token_tiles) * 16;
    const auto token_row = [&](int i) {
      if (t0 + i >= count) return -1;
      const int row = row_begin + t0 + i;
      const int src = p.a_rows ? p.a_rows[row] : row;
      return src < p.a_row_count ? src : -1;  // negative stays negative
    };
    const StreamOperand w_e{p.b + e * p.b_expert_stride, p.b_scales + e * p.b_scales_expert_stride, p.ldb, p.ldb_s};
    float acc[Tokens / 8][4] = {};
    stream_accumulate<Tokens, Groups>(acc, w_e, x, [&](int h) { return row0 + g + 8 * h < p.n ? row0 + g + 8 * h : -1; },
                                      token_row, p.k, group_begin, group_end);
    unsigned short* out = static_cast<unsigned short*>(p.out);
    const unsigned short* bias = p.bias ? static_cast<const unsigned short*>(p.bias) + static_cast<long long>(e) * p.n : nullptr;
    stream_reduce<Tokens, Warps, false>(acc, split, partial, [&](int r, int token, float v) {
      const int col = row0 + r;
      if (col >= p.n || t0 + token >= count) return;
      if (bias) v += Out::to_float(bias[col]);
      out[(row_begin + t0 + token) * p.ldo + col] = Out::from_float(v);
    });
  }
}

}  // namespace mxjit
