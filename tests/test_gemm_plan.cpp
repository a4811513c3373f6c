// ops::plan_gemm on the CPU: the workspace of a plan holds what its launches write (the bf16 operand of
// the prepass, then the split-K partials; the decode walk's partials), for an H100's SM count and shared
// memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <tuple>
#include <vector>

#include "ops/dequantize_bf16.hpp"
#include "ops/gemm.hpp"
#include "templates/gemm_tile_raster.cuh"
#include "templates/grouped_decode_work.cuh"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

using testing::h100_smem_per_sm;
using testing::h100_sms;

TEST(GemmPlan, Bf16WorkspaceHoldsThePrepassThenTheSplits) {
  const ops::GemmFamilies hopper = ops::GemmFamilies::dispatched(jit::Arch::parse("sm_90a"));
  struct Case {
    std::int64_t m, n, k;
    bool splits;
  };
  for (const Case c : {Case{256, 4096, 4096, true}, Case{64, 4096, 4096, true}, Case{8192, 28672, 4096, false},
                       Case{100, 300, 96, false}}) {
    SCOPED_TRACE(::testing::Message() << "M = " << c.m << ", N = " << c.n << ", K = " << c.k);
    const ops::GemmPlan plan = ops::plan_gemm(hopper, c.m, c.n, c.k, h100_sms, h100_smem_per_sm);
    ASSERT_EQ(ops::gemm_tiles[plan.tile].family, ops::GemmFamily::wgmma_bf16);
    EXPECT_EQ(plan.bf16_operand_bytes, ops::dequantize_bf16_bytes(c.m, c.k));
    EXPECT_EQ(plan.splits > 1, c.splits);
    EXPECT_EQ(plan.workspace_bytes,
              plan.bf16_operand_bytes + (plan.splits > 1 ? static_cast<std::uint64_t>(plan.splits * c.m * c.n * 4) : 0));
    EXPECT_LE((plan.splits - 1) * plan.k_tiles_per_split, (c.k + 127) / 128);  // no empty split
  }
}

TEST(GemmPlan, PrepassRowsCoverKRoundedTo128AndAFlagByte) {
  EXPECT_EQ(ops::dequantize_bf16_row_elements(32), 128);
  EXPECT_EQ(ops::dequantize_bf16_row_elements(4096), 4096);
  EXPECT_EQ(ops::dequantize_bf16_row_elements(4096 + 32), 4096 + 128);
  EXPECT_EQ(ops::dequantize_bf16_bytes(3, 160), 3u * 256 * 2 + 256);
}

// The persistent prefill GEMM's walk: every (split, row tile, column tile) exactly once, splits
// outermost, and inside a split each group of kRasterGroup row tiles done before the next starts.
TEST(GemmPlan, TileRasterVisitsEveryTileOfEverySplitOnce) {
  for (auto [rows, cols, splits] : {std::tuple{1, 1, 1}, {224, 16, 1}, {17, 33, 3}, {16, 5, 2}, {40, 1, 4}, {3, 200, 1}}) {
    SCOPED_TRACE(::testing::Message() << rows << " row tiles, " << cols << " column tiles, " << splits << " splits");
    const GemmTileRaster raster{rows, cols, splits};
    ASSERT_EQ(raster.items(), static_cast<long long>(rows) * cols * splits);
    std::set<std::tuple<int, int, int>> seen;
    int last_split = 0, last_group = 0;
    for (long long i = 0; i < raster.items(); ++i) {
      int split, row, col;
      raster.tile_of(i, split, row, col);
      ASSERT_TRUE(split >= 0 && split < splits && row >= 0 && row < rows && col >= 0 && col < cols) << "item " << i;
      ASSERT_GE(split, last_split) << "item " << i;
      if (split > last_split) last_group = 0;
      ASSERT_GE(row / kRasterGroup, last_group) << "item " << i;
      last_split = split;
      last_group = row / kRasterGroup;
      ASSERT_TRUE(seen.insert({split, row, col}).second) << "item " << i << " repeats a tile";
    }
  }
}

// The exact bf16 tiles by M, then by waves: mid-size M on a narrow weight takes 128 x 128 where 128 x 256
// would leave half the SMs idle (measured 1.17-1.21x faster at M = 256, N = 8192: bench/METHOD.md session
// 23); prefill and wide weights keep 128 x 256; below 65 tokens 128 x 64 as before.
TEST(GemmPlan, Bf16TileByTokensThenByWaves) {
  const ops::GemmFamilies hopper = ops::GemmFamilies::dispatched(jit::Arch::parse("sm_90a"));
  const auto bn_of = [&](std::int64_t m, std::int64_t n, std::int64_t k, int sms) {
    const ops::GemmTile& t = ops::gemm_tiles[ops::gemm_tile_for(hopper, m, n, k, sms, h100_smem_per_sm)];
    EXPECT_EQ(t.family, ops::GemmFamily::wgmma_bf16);
    return t.bn;
  };
  for (int sms : {h100_sms, 114}) {
    SCOPED_TRACE(::testing::Message() << sms << " SMs");
    // 64 tiles of 128 x 256; 128 of 128 x 128, one wave on 132 SMs, two on 114 (then 128 x 256 stays).
    const int mid = sms == h100_sms ? 128 : 256;
    EXPECT_EQ(bn_of(256, 8192, 1024, sms), mid);
    EXPECT_EQ(bn_of(256, 8192, 3584, sms), mid);
    EXPECT_EQ(bn_of(200, 8192, 3584, sms), mid);
    EXPECT_EQ(bn_of(64, 8192, 1024, sms), 64);
    EXPECT_EQ(bn_of(100, 8192, 1024, sms), 128);
    for (std::int64_t m : {2048, 8192})
      for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{4096, 4096}, {28672, 4096}, {8192, 1024}, {1280, 8192}})
        EXPECT_EQ(bn_of(m, n, k, sms), 256) << "M = " << m << ", N = " << n << ", K = " << k;
    EXPECT_EQ(bn_of(256, 28672, 4096, sms), 256);  // 224 tiles: nearly 2 full waves
  }
}

TEST(GemmPlan, PortableDecodeNeedsNoWorkspace) {
  for (std::int64_t m : {1, 16}) {
    const ops::GemmPlan plan = ops::plan_gemm(ops::GemmFamilies::dispatched(jit::Arch::parse("sm_89")), m, 28672,
                                              4096, h100_sms, h100_smem_per_sm);
    EXPECT_TRUE(ops::gemm_tiles[plan.tile].streaming) << "M = " << m;
    EXPECT_EQ(plan.workspace_bytes, 0u) << "M = " << m;
  }
}

// Hopper's decode walk, emulated on the CPU: every (row tile, K stage) iteration runs on exactly one CTA,
// the CTAs' shares differ by at most one iteration, and every CTA that shares a row tile leaves its
// partial in a slot of its own (0 for the tile it starts in, 1 for the one it ends in) that the second
// launch finds; tiles walked whole by one CTA need neither.
TEST(GemmPlan, DecodeWalkCoversEveryIterationOnceInEvenShares) {
  for (auto [m, n, k] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{1, 28672, 4096}, {16, 28672, 4096},
                         {8, 4096, 14336}, {1, 1280, 8192}, {3, 32, 32}, {16, 4096 + 32, 7168}, {1, 300, 2080}}) {
    SCOPED_TRACE(::testing::Message() << "M = " << m << ", N = " << n << ", K = " << k);
    const ops::GemmPlan plan = ops::plan_gemm(ops::GemmFamily::tma_decode, m, n, k, h100_sms, h100_smem_per_sm,
                                              ops::gemm_tile_for(ops::GemmFamily::tma_decode, m, n, k, h100_sms, h100_smem_per_sm));
    const ops::GemmTile& t = ops::gemm_tiles[plan.tile];
    ASSERT_EQ(t.family, ops::GemmFamily::tma_decode);
    EXPECT_GE(t.bn, m);
    const DecodeWork& w = plan.decode;
    EXPECT_EQ(w.k_stages, (k + 127) / 128);
    EXPECT_EQ(w.total, (n + t.bm - 1) / t.bm * w.k_stages);
    EXPECT_LE(w.ctas, w.total);
    EXPECT_LE(w.ctas, 2 * h100_sms);
    std::vector<int> runs(static_cast<std::size_t>(w.total), 0);
    std::set<std::pair<int, int>> slots;  // (cta, slot) of every partial
    bool shared = false;
    for (int c = 0; c < w.ctas; ++c) {
      const std::int64_t begin = w.begin(c), end = w.begin(c + 1);
      EXPECT_LE(end - begin, w.total / w.ctas + 1);
      EXPECT_GE(end - begin, w.total / w.ctas);
      for (std::int64_t i = begin; i < end; ++i) {
        ++runs[static_cast<std::size_t>(i)];
        EXPECT_EQ(w.cta_of(i), c);
      }
    }
    for (std::int64_t tile = 0; tile < w.total / w.k_stages; ++tile) {
      const int first = w.cta_of(tile * w.k_stages), last = w.cta_of((tile + 1) * w.k_stages - 1);
      if (first == last) continue;  // stored directly
      shared = true;
      for (int c = first; c <= last; ++c) {
        const int slot = w.begin(c) / w.k_stages == tile ? 0 : 1;
        EXPECT_TRUE(slots.insert({c, slot}).second) << "CTA " << c << " slot " << slot << " used twice";
        if (slot == 1) {
          EXPECT_EQ((w.begin(c + 1) - 1) / w.k_stages, tile);  // the tile it ends in
        }
      }
    }
    EXPECT_EQ(std::count(runs.begin(), runs.end(), 1), w.total);
    // The second launch (one CTA per boundary between shares) sums each shared tile exactly once.
    std::vector<int> summed(static_cast<std::size_t>(w.total / w.k_stages), 0);
    for (int c = 1; c < w.ctas; ++c) {
      const std::int64_t i = w.begin(c), tile = i / w.k_stages;
      if (i % w.k_stages != 0 && w.cta_of(i - 1) == w.cta_of(tile * w.k_stages)) ++summed[static_cast<std::size_t>(tile)];
    }
    for (std::int64_t tile = 0; tile < w.total / w.k_stages; ++tile)
      EXPECT_EQ(summed[static_cast<std::size_t>(tile)],
                w.cta_of(tile * w.k_stages) != w.cta_of((tile + 1) * w.k_stages - 1) ? 1 : 0) << "tile " << tile;
    EXPECT_EQ(plan.decode_shared_tiles, shared);
    EXPECT_EQ(plan.workspace_bytes, shared ? static_cast<std::uint64_t>(w.ctas) * 2 * t.bn * t.bm * 4 : 0u);
  }
}

// The grouped walk's shares (templates/grouped_decode_work.cuh): they cover every iteration once, a tile
// of an expert with several token tiles is never cut (its tokens' sums must not depend on which of the
// expert's tiles the grouping put them in), shares stay within one tile of even, and the second
// launch's rule (as the device runs it, empty shares included) sums every cut tile exactly once.
TEST(GemmPlan, GroupedDecodeWalkNeverCutsTheTilesOfAnExpertWithSeveralTokenTiles) {
  struct Case {
    std::vector<int> counts;
    int weight_tiles, k_stages, ctas;
  };
  for (const Case& c : {Case{{40, 3, 25, 0, 17}, 2, 16, 132}, Case{{200, 0, 0, 1}, 8, 6, 132},
                        Case{{1, 2, 3, 4, 5, 6, 7, 8}, 12, 16, 132}, Case{{300}, 1, 2, 132}, Case{{9, 9}, 16, 32, 264}}) {
    std::vector<int> tiles_through;
    int run = 0;
    for (int count : c.counts) tiles_through.push_back(run += (count + 7) / 8 * c.weight_tiles);  // 8-token tiles
    const GroupedDecodeWork w{static_cast<long long>(run) * c.k_stages, c.k_stages, c.ctas,
                              static_cast<int>(c.counts.size()), c.weight_tiles, tiles_through.data()};
    SCOPED_TRACE(::testing::Message() << "tiles " << run << ", k_stages " << c.k_stages << ", CTAs " << c.ctas);
    EXPECT_EQ(w.begin(0), 0);
    EXPECT_EQ(w.begin(c.ctas), w.total);
    std::vector<int> owner(static_cast<std::size_t>(w.total), -1);
    for (int cta = 0; cta < c.ctas; ++cta) {
      const long long begin = w.begin(cta), end = w.begin(cta + 1);
      ASSERT_LE(begin, end);
      EXPECT_LE(end - begin, w.total / c.ctas + 1 + c.k_stages) << "CTA " << cta;
      for (long long i = begin; i < end; ++i) {
        EXPECT_EQ(owner[static_cast<std::size_t>(i)], -1);
        owner[static_cast<std::size_t>(i)] = cta;
        EXPECT_EQ(w.cta_of(i), cta) << "iteration " << i;
      }
    }
    EXPECT_EQ(std::count(owner.begin(), owner.end(), -1), 0);
    std::vector<int> summed(static_cast<std::size_t>(run), 0);
    for (int cta = 1; cta < c.ctas; ++cta) {  // decode_reduce_boundary's rule
      const long long i = w.begin(cta), tile = i / c.k_stages;
      if (i == w.begin(cta + 1) || i % c.k_stages == 0) continue;
      if (w.cta_of(i - 1) == w.cta_of(tile * c.k_stages)) ++summed[static_cast<std::size_t>(tile)];
    }
    for (long long tile = 0; tile < run; ++tile) {
      const bool cut = w.cta_of(tile * c.k_stages) != w.cta_of((tile + 1) * c.k_stages - 1);
      const int e = expert_of_tile(tiles_through.data(), static_cast<int>(c.counts.size()), static_cast<int>(tile));
      if (c.counts[e] > 8) {
        EXPECT_FALSE(cut) << "tile " << tile << " of expert " << e << " was cut";
      }
      EXPECT_EQ(summed[static_cast<std::size_t>(tile)], cut ? 1 : 0) << "tile " << tile;
    }
  }
}

}  // namespace
}  // namespace mxjit
