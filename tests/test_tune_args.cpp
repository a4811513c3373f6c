// mxjit::tune_gemm without a GPU: its argument checks, its refusal to run, and the candidate tiles it
// would try.
#include <gtest/gtest.h>

#include <algorithm>

#include "mxjit/mxjit.hpp"
#include "ops/tune.hpp"
#include "test_support.hpp"

namespace mxjit {
namespace {

using testing::error_message;

TuneOptions valid() {
  TuneOptions o;
  o.shapes = {{512, 1024}};
  o.tokens = {1, 64};
  return o;
}

TEST(TuneArgs, BadOptionsAreNamed) {
  check_tune_options(valid());
  auto rejected = [](const TuneOptions& o) {
    return error_message(ErrorCode::invalid_argument, [&] { check_tune_options(o); });
  };
  TuneOptions o = valid();
  o.shapes.push_back({512, 1000});
  EXPECT_CONTAINS(rejected(o), "N = 512, K = 1000");
  o = valid();
  o.shapes.push_back({0, 1024});
  EXPECT_CONTAINS(rejected(o), "N = 0, K = 1024");
  o = valid();
  o.tokens = {1, 0};
  EXPECT_CONTAINS(rejected(o), "token count 0");
  o = valid();
  o.tokens = {std::int64_t{1} << 31};
  EXPECT_CONTAINS(rejected(o), "token count 2147483648");
  o = valid();
  o.out = DType::f32;
  EXPECT_CONTAINS(rejected(o), "bf16 or fp16, got f32");
  o = valid();
  o.budget_ms = 0;
  EXPECT_CONTAINS(rejected(o), "got 0 ms");
}

TEST(TuneArgs, BadOptionsAreReportedBeforeTheMissingGpu) {
  TuneOptions o = valid();
  o.tokens = {-3};
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] { tune_gemm(o); }), "token count -3");
}

TEST(TuneArgs, WithoutAGpuTuningIsRefused) {
  if (gpu_count() > 0) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_CONTAINS(error_message(ErrorCode::unsupported, [] { tune_gemm(valid()); }), "needs a GPU");
}

// Every tile of the family that holds M, the tuning-only ones included, and always the heuristic's own.
TEST(TuneArgs, CandidatesAreTheTilesThatHoldM) {
  const ops::GemmFamilies sets[] = {ops::GemmFamily::mma, ops::GemmFamily::wgmma,
                                     ops::GemmFamilies::dispatched(jit::Arch::parse("sm_90a"))};
  for (const ops::GemmFamilies& families : sets)
    for (std::int64_t m : {1, 8, 9, 16, 17, 64, 8192}) {
      SCOPED_TRACE(::testing::Message() << "M = " << m);
      const std::vector<int> candidates = ops::gemm_tune_candidates(families, m);
      for (std::int64_t n : {4096, 28672})  // a small and a large weight (tma_decode takes only the latter)
        EXPECT_NE(std::find(candidates.begin(), candidates.end(), ops::gemm_tile_for(families, m, n, 4096, testing::h100_sms, testing::h100_smem_per_sm)),
                  candidates.end());
      for (int i = 0; i < static_cast<int>(std::size(ops::gemm_tiles)); ++i) {
        const ops::GemmTile& t = ops::gemm_tiles[i];
        const bool holds = families.contains(t.family) && (!t.swap_ab || m <= t.bn);
        EXPECT_EQ(std::count(candidates.begin(), candidates.end(), i), holds ? 1 : 0) << t.name();
      }
    }
  bool tuning_only = false;  // the decode candidates that only tuning ever picks are tried
  for (int i : ops::gemm_tune_candidates(ops::GemmFamily::mma, 1)) tuning_only |= ops::gemm_tiles[i].max_tokens == 0;
  EXPECT_TRUE(tuning_only);
}

}  // namespace
}  // namespace mxjit
