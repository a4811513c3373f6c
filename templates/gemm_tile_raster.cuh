// The order in which the persistent prefill GEMM (mxfp8_gemm_wgmma_bf16.cuh) walks its work items, shared
// by host (tests) and device code.
//
// An item is one (split, row tile, column tile). Splits are outermost, so the CTAs resident at once
// work on one split's K range; inside a split, groups of kRasterGroup row tiles walk every column tile,
// row tiles fastest, so those CTAs share few weight (row) and token (column) tiles in the L2.
#pragma once

#include "mxfp8_gemm_params.cuh"

namespace mxjit {

constexpr int kRasterGroup = 16;  // row tiles walked together

struct GemmTileRaster {
  int row_tiles, col_tiles, splits;

  MXJIT_HOST_DEVICE long long items() const {
    return static_cast<long long>(row_tiles) * col_tiles * splits;
  }
  // Item i's split, row tile and column tile.
  MXJIT_HOST_DEVICE void tile_of(long long i, int& split, int& row_tile, int& col_tile) const {
    const long long tiles = static_cast<long long>(row_tiles) * col_tiles;
    split = static_cast<int>(i / tiles);
    const int in_split = static_cast<int>(i - split * tiles);
    const int group = in_split / (kRasterGroup * col_tiles);
    const int first_row = group * kRasterGroup;
    const int group_rows = row_tiles - first_row < kRasterGroup ? row_tiles - first_row : kRasterGroup;
    const int in_group = in_split - first_row * col_tiles;
    row_tile = first_row + in_group % group_rows;
    col_tile = in_group / group_rows;
  }
};

}  // namespace mxjit
