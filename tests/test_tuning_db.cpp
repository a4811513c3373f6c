// The tuning database: round trip, merge on save, environment mismatch, corrupt files, and dispatch
// consulting it (through the pure tile choice, so no GPU is needed).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "jit/tuning_db.hpp"
#include "ops/gemm.hpp"
#include "ops/moe_plan.hpp"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

using jit::TuningChoice;
using jit::TuningDb;
using jit::TuningEnvironment;
using jit::TuningKey;
using mxjit::testing::error_message;

const TuningEnvironment here{"NVIDIA H100 80GB HBM3", "sm_90a", "13000", "13.0", "0.1.0"};

// A fresh path in the temp dir, removed again when the test ends.
struct TempFile {
  std::string path;
  explicit TempFile(const char* name)
      : path(::testing::TempDir() + "mxjit-tuning-" + std::to_string(::getpid()) + "-" + name + ".json") {
    std::filesystem::remove(path);
  }
  ~TempFile() { std::filesystem::remove(path); }
};

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(TuningDb, BucketsAreThePowersOfTwoAbove) {
  EXPECT_EQ(TuningKey::bucket_of(1), 1);
  EXPECT_EQ(TuningKey::bucket_of(9), 16);
  EXPECT_EQ(TuningKey::bucket_of(16), 16);
  EXPECT_EQ(TuningKey::bucket_of(2049), 4096);
}

TEST(TuningDb, MissingFileIsEmptyAndSaveLoadRoundTrips) {
  const TempFile file("roundtrip");
  const std::string& path = file.path;
  EXPECT_EQ(TuningDb::load(path, here).size(), 0u);
  TuningDb db(here);
  db.set({16, 28672, 4096, DType::bf16}, {7, 61.5});
  db.set({1, 4096, 14336, DType::fp16}, {3, 30.0});
  db.save(path);
  const TuningDb back = TuningDb::load(path, here);
  ASSERT_EQ(back.size(), 2u);
  ASSERT_NE(back.find({16, 28672, 4096, DType::bf16}), nullptr);
  EXPECT_EQ(back.find({16, 28672, 4096, DType::bf16})->tile, 7);
  EXPECT_EQ(back.find({1, 4096, 14336, DType::fp16})->microseconds, 30.0);
  EXPECT_EQ(back.find({16, 28672, 4096, DType::fp16}), nullptr);  // another output type
}

TEST(TuningDb, SaveMergesWithWhatIsOnDisk) {
  const TempFile file("merge");
  const std::string& path = file.path;
  TuningDb first(here), second(here);
  first.set({1, 100, 64, DType::bf16}, {3, 1.0});
  first.save(path);
  second.set({2, 100, 64, DType::bf16}, {4, 2.0});
  second.set({1, 100, 64, DType::bf16}, {7, 0.5});  // a newer result for the same key wins
  second.save(path);
  const TuningDb back = TuningDb::load(path, here);
  EXPECT_EQ(back.size(), 2u);
  EXPECT_EQ(back.find({1, 100, 64, DType::bf16})->tile, 7);
  EXPECT_EQ(back.find({2, 100, 64, DType::bf16})->tile, 4);
  for (const auto& entry : std::filesystem::directory_iterator(::testing::TempDir()))
    EXPECT_EQ(entry.path().string().find(path + ".tmp"), std::string::npos) << "temp file left behind";
}

TEST(TuningDb, AnotherEnvironmentIsIgnored) {
  const TempFile file("env");
  const std::string& path = file.path;
  TuningDb db(here);
  db.set({1, 100, 64, DType::bf16}, {3, 1.0});
  db.save(path);
  TuningEnvironment other = here;
  other.driver = "12080";
  EXPECT_EQ(TuningDb::load(path, other).size(), 0u);
  EXPECT_EQ(TuningDb::load(path, here).size(), 1u);
}

TEST(TuningDb, CorruptFilesAreErrorsNamingTheFile) {
  const TempFile file("corrupt");
  const std::string& path = file.path;
  write(path, "{ not json");
  std::string what = error_message(ErrorCode::io_error, [&] { TuningDb::load(path, here); });
  EXPECT_NE(what.find(path), std::string::npos) << what;
  EXPECT_NE(what.find("not valid JSON"), std::string::npos) << what;
  std::filesystem::remove(path);  // save() merges with the file on disk, and refuses a corrupt one
  TuningDb valid(here);
  valid.save(path);  // a well-formed file of this environment, then one bad entry planted in it
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string empty_entries = R"("entries": {})";
  text.replace(text.find(empty_entries), empty_entries.size(), R"("entries": {"gemm m<=3 n=1": {"tile": 1}})");
  write(path, text);
  what = error_message(ErrorCode::io_error, [&] { TuningDb::load(path, here); });
  EXPECT_NE(what.find("bad entry 'gemm m<=3 n=1'"), std::string::npos) << what;
  write(path, R"({"format": 9})");
  EXPECT_NE(error_message(ErrorCode::io_error, [&] { TuningDb::load(path, here); }).find("expected format 1"),
            std::string::npos);
}

TEST(TuningDb, DispatchTakesAValidTunedTileElseTheHeuristic) {
  using ops::GemmFamily;
  TuningDb db(here);
  const int heuristic = ops::gemm_tile_for(GemmFamily::mma, 5, 28672, 4096, testing::h100_sms, testing::h100_smem_per_sm);
  EXPECT_EQ(ops::choose_gemm_tile(db, GemmFamily::mma, 5, 28672, 4096, DType::bf16, testing::h100_sms, testing::h100_smem_per_sm), heuristic);
  int candidate = -1, wgmma_tile = -1;
  for (int i = 0; i < static_cast<int>(std::size(ops::gemm_tiles)); ++i) {
    const ops::GemmTile& t = ops::gemm_tiles[i];
    if (t.family == GemmFamily::mma && t.max_tokens == 0 && t.bn == 8) candidate = i;
    if (t.family == GemmFamily::wgmma && wgmma_tile < 0) wgmma_tile = i;
  }
  ASSERT_GE(candidate, 0);
  db.set({8, 28672, 4096, DType::bf16}, {candidate, 60.0});  // M in (4, 8]
  EXPECT_EQ(ops::choose_gemm_tile(db, GemmFamily::mma, 5, 28672, 4096, DType::bf16, testing::h100_sms, testing::h100_smem_per_sm), candidate);
  EXPECT_EQ(ops::choose_gemm_tile(db, GemmFamily::mma, 5, 28672, 4096, DType::fp16, testing::h100_sms, testing::h100_smem_per_sm), heuristic);  // not tuned
  db.set({16, 28672, 4096, DType::bf16}, {candidate, 60.0});  // an 8-token tile cannot hold M = 12
  EXPECT_EQ(ops::choose_gemm_tile(db, GemmFamily::mma, 12, 28672, 4096, DType::bf16, testing::h100_sms, testing::h100_smem_per_sm), ops::gemm_tile_for(GemmFamily::mma, 12, 28672, 4096, testing::h100_sms, testing::h100_smem_per_sm));
  db.set({8, 4096, 4096, DType::bf16}, {wgmma_tile, 1.0});  // another family's tile is ignored
  EXPECT_EQ(ops::choose_gemm_tile(db, GemmFamily::mma, 8, 4096, 4096, DType::bf16, testing::h100_sms, testing::h100_smem_per_sm),
            ops::gemm_tile_for(GemmFamily::mma, 8, 4096, 4096, testing::h100_sms, testing::h100_smem_per_sm));
  db.set({8, 4096, 1024, DType::bf16}, {999, 1.0});  // out of range
  EXPECT_EQ(ops::choose_gemm_tile(db, GemmFamily::mma, 8, 4096, 1024, DType::bf16, testing::h100_sms, testing::h100_smem_per_sm),
            ops::gemm_tile_for(GemmFamily::mma, 8, 4096, 1024, testing::h100_sms, testing::h100_smem_per_sm));
}

// Dispatch takes only exact kernels: on sm_90a up to 16 tokens the TMA decode tiles for weights of 96 MiB
// and more, the streaming ones below, and bf16 wgmma above 16 tokens; on sm_89 mma.sync throughout;
// never fp8 wgmma (outside design.md's bound).
TEST(TuningDb, DispatchedFamiliesByArchAndM) {
  using ops::GemmFamily;
  const ops::GemmFamilies hopper = ops::GemmFamilies::dispatched(jit::Arch::parse("sm_90a"));
  for (const char* arch : {"sm_89", "sm_90", "sm_90a"}) {
    const ops::GemmFamilies families = ops::GemmFamilies::dispatched(jit::Arch::parse(arch));
    EXPECT_TRUE(families.contains(GemmFamily::mma)) << arch;
    EXPECT_FALSE(families.contains(GemmFamily::wgmma)) << arch;
    EXPECT_EQ(families.contains(GemmFamily::wgmma_bf16), std::string(arch) == "sm_90a") << arch;
    EXPECT_EQ(families.contains(GemmFamily::tma_decode), std::string(arch) != "sm_89") << arch;
  }
  for (std::int64_t m : {1, 8, 9, 16}) {
    SCOPED_TRACE(::testing::Message() << "M = " << m);
    for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{4096, 4096}, {4096, 14336}, {8192, 3584}})
      EXPECT_EQ(ops::gemm_tile_for(hopper, m, n, k, testing::h100_sms, testing::h100_smem_per_sm), ops::gemm_tile_for(GemmFamily::mma, m, n, k, testing::h100_sms, testing::h100_smem_per_sm));
    for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{28672, 4096}, {57344, 8192}}) {
      const ops::GemmTile& t = ops::gemm_tiles[ops::gemm_tile_for(hopper, m, n, k, testing::h100_sms, testing::h100_smem_per_sm)];
      EXPECT_EQ(t.family, GemmFamily::tma_decode);
      EXPECT_EQ(t.bn, m <= 8 ? 8 : 16);
      EXPECT_EQ(t.bm, 64);  // the tile measured fastest
    }
  }
  for (std::int64_t m : {17, 64, 65, 2048, 1 << 20})
    EXPECT_EQ(ops::gemm_tiles[ops::gemm_tile_for(hopper, m, 28672, 4096, testing::h100_sms, testing::h100_smem_per_sm)].family, GemmFamily::wgmma_bf16) << "M = " << m;
}

// MoE decode on sm_90: the grouped TMA tiles where the tokens are expected to touch at least
// grouped_tma_decode_min_touched_bytes of expert weights (the H100 sweep of bench/METHOD.md), the
// streaming tiles below and the bf16 wgmma ones above 16 rows per expert; on sm_89 never tma_decode.
TEST(TuningDb, MoeDecodeTileByTouchedExpertBytes) {
  using ops::GemmFamily;
  const jit::Arch hopper = jit::Arch::parse("sm_90a");
  const ops::MoeDims qwen3{128, 128, 2048, 768, 8}, mixtral{8, 8, 4096, 7168, 2}, deepseek_shard{32, 256, 7168, 2048, 8};
  struct Case {
    ops::MoeDims dims;
    std::int64_t tokens;
    bool tma;
    int tokens_per_tile;
  };
  for (const Case& c : {Case{qwen3, 1, false, 8}, Case{qwen3, 64, true, 8}, Case{mixtral, 1, false, 8},
                        Case{mixtral, 16, true, 8}, Case{mixtral, 64, true, 16}, Case{deepseek_shard, 1, false, 8},
                        Case{deepseek_shard, 16, true, 8}, Case{deepseek_shard, 64, true, 8}}) {
    SCOPED_TRACE(::testing::Message() << "E = " << c.dims.experts << ", H = " << c.dims.hidden << ", T = " << c.tokens);
    const ops::GemmTile& t = ops::grouped_gemm_tiles[ops::moe_grouped_gemm_tile(c.dims, c.tokens, hopper)];
    EXPECT_EQ(t.family == GemmFamily::tma_decode, c.tma);
    EXPECT_TRUE(t.family == GemmFamily::tma_decode || t.streaming);
    EXPECT_EQ(t.bn, c.tokens_per_tile);
    EXPECT_EQ(c.tma, ops::moe_expected_touched_bytes(c.dims, c.tokens) >= ops::grouped_tma_decode_min_touched_bytes);
    const ops::GemmTile& portable =
        ops::grouped_gemm_tiles[ops::moe_grouped_gemm_tile(c.dims, c.tokens, jit::Arch::parse("sm_89"))];
    EXPECT_TRUE(portable.streaming);
  }
  // Uniform routing: one token touches top_k experts of the model, on this rank its share of them.
  EXPECT_EQ(ops::moe_expected_touched_bytes(mixtral, 1), 2 * 3 * 4096 * 7168);
  EXPECT_NEAR(static_cast<double>(ops::moe_expected_touched_bytes(deepseek_shard, 1)), 1.0 * 3 * 7168 * 2048, 1.0);
  // The raw grouped GEMM does not know the bytes touched: no floor reached, no TMA tile unless asked for.
  EXPECT_TRUE(ops::grouped_gemm_tiles[ops::grouped_gemm_tile_for(ops::GemmFamilies::dispatched(hopper), 4, 0)].streaming);
  EXPECT_EQ(ops::grouped_gemm_tiles[ops::grouped_gemm_tile_for(GemmFamily::tma_decode, 4, 0)].family, GemmFamily::tma_decode);
  EXPECT_EQ(ops::grouped_gemm_tiles[ops::moe_grouped_gemm_tile(mixtral, 256, hopper)].family, GemmFamily::wgmma_bf16);
}

}  // namespace
}  // namespace mxjit
