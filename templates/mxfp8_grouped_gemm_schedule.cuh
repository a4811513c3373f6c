// The work list of the grouped GEMM kernels: per-expert row ranges from device memory, and work tiles
// (expert, token tile, weight tile) numbered expert by expert, found by every CTA without the host.
#pragma once

#include "grouped_decode_work.cuh"
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

// tiles_through[e] = work tiles of experts 0..e, each expert owning ceil(rows / token_tile) * weight_tiles;
// computed by warp 0 (per-lane runs of experts, then a warp scan), visible after the barrier it ends with.
__device__ __forceinline__ void grouped_tile_prefix(const GroupedGemmParams& p, int token_tile, int weight_tiles,
                                                    int* tiles_through) {
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x, per_lane = (p.experts + 31) / 32;
    const int e_begin = min(lane * per_lane, p.experts), e_end = min(e_begin + per_lane, p.experts);
    int run = 0;
    for (int e = e_begin; e < e_end; ++e) {
      int begin, count;
      expert_rows(p, e, begin, count);
      run += (count + token_tile - 1) / token_tile * weight_tiles;
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
}

// A grouped kernel's current work tile, kept in shared memory (the main loop needs every register).
struct GroupedWork {
  int expert, row_begin, count, t0, w0;  // expert e's rows [row_begin, row_begin + count); tile origins
};

// Work tile w: token tiles of TokenTile rows fastest, then weight tiles of WeightTile rows.
template <int TokenTile, int WeightTile>
__device__ __forceinline__ GroupedWork grouped_work_of(const GroupedGemmParams& p, const int* tiles_through, int w) {
  GroupedWork work;
  const int e = expert_of_tile(tiles_through, p.experts, w);
  const int local = w - (e > 0 ? tiles_through[e - 1] : 0);
  expert_rows(p, e, work.row_begin, work.count);
  const int token_tiles = (work.count + TokenTile - 1) / TokenTile;
  work.expert = e;
  work.t0 = (local % token_tiles) * TokenTile;
  work.w0 = (local / token_tiles) * WeightTile;
  return work;
}

// The row of the token-side operand that token r of the work tile reads: -1 past the group, or for a
// gathered index outside the operand.
__device__ __forceinline__ int grouped_token_row(const GroupedGemmParams& p, const GroupedWork& work, int r) {
  if (work.t0 + r >= work.count) return -1;
  const int row = work.row_begin + work.t0 + r;
  const int src = p.a_rows ? p.a_rows[row] : row;
  return src < 0 || src >= p.a_row_count ? -1 : src;
}

// Makes work tile w current and fills token_row[r] (grouped_token_row) for the tile's tokens. Every
// thread calls it; it begins with a barrier (the previous tile is done with `work` and `token_row`) and
// ends with one.
template <int TokenTile, int WeightTile, int Threads>
__device__ __forceinline__ void grouped_next_work(const GroupedGemmParams& p, const int* tiles_through, int w,
                                                  GroupedWork& work, int* token_row) {
  __syncthreads();
  if (threadIdx.x == 0) work = grouped_work_of<TokenTile, WeightTile>(p, tiles_through, w);
  __syncthreads();
  for (int r = threadIdx.x; r < TokenTile; r += Threads) token_row[r] = grouped_token_row(p, work, r);
  __syncthreads();
}

}  // namespace mxjit
