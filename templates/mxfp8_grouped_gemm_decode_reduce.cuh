// The grouped tma_decode GEMM's second launch (mxfp8_grouped_gemm_decode_tma.cuh): one CTA per boundary
// between the walk's CTA shares, summing the partials of the work tile it cuts (decode_reduce_boundary).
#pragma once

#include "mxfp8_grouped_gemm_decode_tma.cuh"

namespace mxjit {

template <int Rows, int Tokens, class Out>
__global__ void __launch_bounds__(kDecodeReduceThreads) mxfp8_grouped_gemm_decode_reduce_kernel(const GroupedGemmParams p) {
  start_in_stream_order();  // launched early (launch_decode_boundaries): the walk's partials land first
  __shared__ int tiles_through[kGroupedGemmMaxExperts];
  const int weight_tiles = (p.n + Rows - 1) / Rows;
  grouped_tile_prefix(p, Tokens, weight_tiles, tiles_through);
  const GroupedDecodeWork work = grouped_decode_work(p, tiles_through, weight_tiles);
  if (work.total == 0) return;
  decode_reduce_boundary<Rows, Tokens>(work, p.partials, blockIdx.x + 1,
                                       GroupedDecodeWalk<Rows, Tokens, Out>{p, nullptr, tiles_through});
}

}  // namespace mxjit
