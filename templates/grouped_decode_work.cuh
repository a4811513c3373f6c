// The grouped tma_decode walk's work list and its shares, shared by host (tests) and device code.
//
// Work tiles are numbered expert by expert; tiles_through[e] counts the tiles of experts 0..e
// (grouped_tile_prefix), each expert's tiles being its token tiles times `weight_tiles` row tiles.
#pragma once

#include "mxfp8_gemm_params.cuh"

namespace mxjit {

// The expert owning work tile w: the first e with tiles_through[e] > w.
MXJIT_HOST_DEVICE inline int expert_of_tile(const int* tiles_through, int experts, int w) {
  int lo = 0, hi = experts - 1;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (tiles_through[mid] > w) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// The (work tile, K stage) iterations cut into one contiguous share per CTA, with the members of
// DecodeWork. The grouping's row order inside an expert is not fixed run to run, so when an expert has
// several token tiles a token may land in any of them; if the shares cut those tiles at different K,
// its fp32 sum would round differently from run to run. So a share boundary that falls inside such a
// tile moves back to the tile's start (those tiles are always walked whole), and only tiles of experts
// with one token tile, whose tokens all share the cut, are cut. Shares stay equal to within one tile.
struct GroupedDecodeWork {
  long long total;
  int k_stages, ctas, experts, weight_tiles;
  const int* tiles_through;

  // Whether work tile `tile` belongs to an expert with several token tiles.
  MXJIT_HOST_DEVICE bool never_cut(long long tile) const {
    const int e = expert_of_tile(tiles_through, experts, static_cast<int>(tile));
    return tiles_through[e] - (e > 0 ? tiles_through[e - 1] : 0) > weight_tiles;
  }
  MXJIT_HOST_DEVICE long long begin(int c) const {
    const long long i = c * total / ctas, tile = i / k_stages;
    return i % k_stages != 0 && never_cut(tile) ? tile * k_stages : i;
  }
  // The CTA whose share holds iteration i: the last whose share begins at or before it. A boundary only
  // ever moves back, so that is the even split's owner or a later CTA.
  MXJIT_HOST_DEVICE int cta_of(long long i) const {
    int c = static_cast<int>(((i + 1) * ctas - 1) / total);
    while (c + 1 < ctas && begin(c + 1) <= i) ++c;
    return c;
  }
};

}  // namespace mxjit
