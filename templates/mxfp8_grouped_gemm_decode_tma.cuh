// Grouped decode GEMM on sm_90: the TMA walk of mxfp8_gemm_decode_tma.cuh over work tiles (expert, token
// tile of Tokens rows, Rows weight rows) numbered expert by expert (mxfp8_grouped_gemm_schedule.cuh). Each
// CTA finds the work list from the group sizes in device memory, so the launch never waits for the host;
// the (work tile, K stage) iterations are cut into equal shares of the persistent grid, so every SM
// streams the same number of expert-weight bytes however the tokens were routed. The expert's weight
// rows come by a 3-D TMA map ([E, N, K], zeros past N and K); the token rows are gathered (a_rows) by
// cp.async into the same swizzled stage layout.
#pragma once

#include "mxfp8_gemm_decode_tma.cuh"
#include "mxfp8_grouped_gemm_schedule.cuh"

namespace mxjit {

template <int Rows, int Tokens, class Out>
struct GroupedDecodeWalk {
  static_assert(Rows % 32 == 0, "the producer lane of token scale row r is lane r (decode_load_scales)");
  const GroupedGemmParams& p;
  const TensorMap* weights;  // null in the second launch, which only stores
  const int* tiles_through;  // grouped_tile_prefix with Tokens-row token tiles and Rows-row weight tiles

  struct Tile {
    int expert, row_begin, count, t0, row0;  // expert's rows [row_begin, +count); the tile's first token and row
    int gather[Tokens / 4];                  // the producer lane's token rows (lane / 8 + 4 i), -1: none
    int scale_row;                           // the token row of the lane's token scales (lane < Tokens)
  };

  // The operand row of tile token r: -1 past the group, or for a gathered index outside the operand.
  __device__ __forceinline__ int token_row(const Tile& t, int r) const {
    if (t.t0 + r >= t.count) return -1;
    const int row = t.row_begin + t.t0 + r;
    const int src = p.a_rows ? p.a_rows[row] : row;
    return src >= 0 && src < p.a_row_count ? src : -1;
  }

  __device__ __forceinline__ Tile tile(long long index) const {
    const int w = static_cast<int>(index), lane = threadIdx.x % 32;
    Tile t;
    t.expert = expert_of_tile(tiles_through, p.experts, w);
    const int local = w - (t.expert > 0 ? tiles_through[t.expert - 1] : 0);
    expert_rows(p, t.expert, t.row_begin, t.count);
    const int token_tiles = (t.count + Tokens - 1) / Tokens;
    t.t0 = local % token_tiles * Tokens;
    t.row0 = local / token_tiles * Rows;
#pragma unroll
    for (int i = 0; i < Tokens / 4; ++i) t.gather[i] = token_row(t, lane / 8 + 4 * i);
    t.scale_row = lane < Tokens ? token_row(t, lane) : -1;
    return t;
  }

  // Lane 0: the weight box by TMA; every lane: 16-byte chunks (lane % 8) of its token rows and the scale
  // words by cp.async.
  __device__ __forceinline__ void load(DecodeStage<Rows, Tokens>& st, const Tile& t, int k0, int lane,
                                       unsigned long long* full) const {
    if (lane == 0) {
      mbarrier_arrive_expect_tx(full, sizeof(st.w));
      tma_load_3d(st.w, weights, k0, t.row0, t.expert, full);
    }
    const int chunk = lane % 8;
    const bool k_in = k0 + 16 * chunk < p.k;
#pragma unroll
    for (int i = 0; i < Tokens / 4; ++i) {
      const int r = lane / 8 + 4 * i, row = t.gather[i];
      const bool in = row >= 0 && k_in;
      cp_async<16>(st.x + r * kGemmBK + ((chunk ^ (r & 7)) << 4), in ? p.a + row * p.lda + k0 + 16 * chunk : p.a,
                   in ? 16 : 0);
    }
    const unsigned char* w_scales = p.b_scales + t.expert * p.b_scales_expert_stride;
    decode_load_scales(st, w_scales, p.ldb_s, [&](int r) { return t.row0 + r < p.n ? t.row0 + r : -1; }, p.a_scales,
                       p.lda_s, [&](int) { return t.scale_row; }, p.k, k0, lane);
  }

  __device__ __forceinline__ void store(const Tile& t, int r, int token, float v) const {
    const int col = t.row0 + r;
    if (col >= p.n || t.t0 + token >= t.count) return;
    if (p.bias) v += Out::to_float(static_cast<const unsigned short*>(p.bias)[static_cast<long long>(t.expert) * p.n + col]);
    static_cast<unsigned short*>(p.out)[static_cast<long long>(t.row_begin + t.t0 + token) * p.ldo + col] =
        Out::from_float(v);
  }
};

// The walk over this launch's work list: p.decode_ctas CTAs, the work tiles found on the device.
__device__ __forceinline__ GroupedDecodeWork grouped_decode_work(const GroupedGemmParams& p, const int* tiles_through,
                                                                 int weight_tiles) {
  const int k_stages = (p.k + kGemmBK - 1) / kGemmBK;
  return {static_cast<long long>(tiles_through[p.experts - 1]) * k_stages, k_stages, p.decode_ctas, p.experts,
          weight_tiles, tiles_through};
}

template <int Rows, int Tokens, int Stages, class Out>
__global__ void __launch_bounds__(Rows * 2 + 32) mxfp8_grouped_gemm_decode_tma_kernel(const GroupedGemmParams p,
                                                                                      const __grid_constant__ TensorMap weights) {
  start_in_stream_order();  // the group sizes below come from the previous kernels
  extern __shared__ unsigned char smem_raw[];
  __shared__ int tiles_through[kGroupedGemmMaxExperts];
  const int weight_tiles = (p.n + Rows - 1) / Rows;
  grouped_tile_prefix(p, Tokens, weight_tiles, tiles_through);
  const GroupedDecodeWork work = grouped_decode_work(p, tiles_through, weight_tiles);
  if (work.total == 0) return;  // no rows in any group
  decode_tma_walk<Rows, Tokens, Stages>(smem_raw, work, p.partials,
                                        GroupedDecodeWalk<Rows, Tokens, Out>{p, &weights, tiles_through});
}

}  // namespace mxjit
