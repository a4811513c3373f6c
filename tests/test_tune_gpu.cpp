// mxjit::tune_gemm on the GPU: small shapes tuned into a temporary database, the winners recorded with
// finite times, dispatch choosing them, their output right against the fp64 reference; a rerun resumes;
// a broken candidate scores +inf without stopping the others.
#include <gtest/gtest.h>

#include <cmath>

#include "gpu_fixture.hpp"
#include "jit/tuning_db.hpp"
#include "mxfp8_operands.hpp"
#include "mxjit/tune.hpp"
#include "ops/gemm.hpp"
#include "ops/tune.hpp"
#include "test_support.hpp"

namespace mxjit::testing {
namespace {

constexpr std::int64_t n = 512, k = 1024;

class TuneGpu : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    if (!ops::gemm_family_supported(ops::GemmFamily::mma, runtime::device_info(0).arch))
      GTEST_SKIP() << "this GPU has no MXFP8 GEMM (sm_89 or newer needed)";
    families_ = ops::GemmFamilies::dispatched(runtime::device_info(0).arch);
  }

  // Shape N x K at token counts 1 and 64, a small budget, into `path`.
  static TuneOptions options(const std::string& path) {
    TuneOptions o;
    o.shapes = {{n, k}};
    o.tokens = {1, 64};
    o.budget_ms = 30;
    o.db_path = path;
    return o;
  }

  ops::GemmFamilies families_ = ops::GemmFamily::mma;  // what dispatch and tuning choose from
};

// The tile dispatch picks from `db`, run the way launch_gemm runs it, checked against the fp64 reference.
void check_dispatch_output(ops::GemmFamilies family, const jit::TuningDb& db, std::int64_t m, CUstream stream) {
  SCOPED_TRACE(::testing::Message() << "M = " << m);
  std::mt19937_64 rng(static_cast<std::uint64_t>(m));
  const Mxfp8Operand a = Mxfp8Operand::random(m, k, rng), b = Mxfp8Operand::random(n, k, rng);
  const DeviceOperand da(a), db_operand(b);
  const runtime::DeviceInfo& info = runtime::device_info(0);
  const int tile = ops::choose_gemm_tile(db, family, m, n, k, DType::bf16, info.sm_count, info.smem_per_sm);
  const ops::GemmPlan plan = ops::plan_gemm(family, m, n, k, info.sm_count, info.smem_per_sm, tile);
  runtime::DeviceBuffer workspace(std::max<std::uint64_t>(plan.workspace_bytes, 16)), out(static_cast<std::size_t>(m * n * 2));
  workspace.fill(0, stream);
  out.fill(0xFF, stream);  // NaN: an unwritten element cannot pass
  ops::launch_gemm(family, da.q_view, da.scales_view, db_operand.q_view, db_operand.scales_view, nullptr,
                   TensorView::contiguous(out.get(), DType::bf16, {m, n}), workspace.get(), workspace.size(), stream,
                   plan.tile);
  MXJIT_CU(cuStreamSynchronize, stream);
  std::vector<std::uint16_t> host(static_cast<std::size_t>(m * n));
  out.download(host.data(), out.size());
  const GemmCheck c = check_gemm(a, b, host, DType::bf16, nullptr, rng);
  EXPECT_EQ(c.failures, 0) << ops::gemm_tiles[tile].name() << ": " << c.first_failure;
}

TEST_F(TuneGpu, WinnersAreRecordedAndDispatchPicksThem) {
  const TempDir dir("tune");
  const TuneOptions o = options(dir / "tuning.json");
  std::vector<TuneEvent> events;
  const TuneSummary s = tune_gemm(o, [&](const TuneEvent& e) { events.push_back(e); });
  EXPECT_EQ(s.tuned, 2u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.skipped, 0u);
  EXPECT_EQ(s.db_path, o.db_path);

  // Every candidate of both token counts reported, each correct and timed; progress ends at its total.
  std::size_t candidates = 0;
  for (const TuneEvent& e : events)
    if (e.kind == TuneEvent::Kind::candidate) {
      ++candidates;
      EXPECT_TRUE(e.error.empty()) << "M = " << e.m << " " << e.tile << ": " << e.error;
      EXPECT_TRUE(std::isfinite(e.microseconds) && e.microseconds > 0) << e.tile;
    }
  EXPECT_EQ(candidates, ops::gemm_tune_candidates(families_, 1).size() + ops::gemm_tune_candidates(families_, 64).size());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().done, events.back().total);
  EXPECT_EQ(events.back().total, candidates);

  const jit::TuningDb db = jit::TuningDb::load(o.db_path, jit::tuning_environment(0));
  EXPECT_EQ(db.size(), 2u);
  for (std::int64_t m : o.tokens) {
    const jit::TuningChoice* choice = db.find({jit::TuningKey::bucket_of(m), n, k, DType::bf16});
    ASSERT_NE(choice, nullptr) << "M = " << m;
    EXPECT_TRUE(std::isfinite(choice->microseconds) && choice->microseconds > 0) << choice->microseconds;
    const std::vector<int> allowed = ops::gemm_tune_candidates(families_, m);
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), choice->tile), allowed.end()) << choice->tile;
    // The tuned event named the tile that was saved.
    const auto tuned = std::find_if(events.begin(), events.end(), [&](const TuneEvent& e) {
      return e.kind == TuneEvent::Kind::tuned && e.m == m;
    });
    ASSERT_NE(tuned, events.end());
    EXPECT_EQ(tuned->tile, ops::gemm_tiles[choice->tile].name());
    EXPECT_EQ(tuned->microseconds, choice->microseconds);
    // Dispatch (launch_gemm without a tile: choose_gemm_tile on the loaded database) takes the winner.
    const runtime::DeviceInfo& info = runtime::device_info(0);
    EXPECT_EQ(ops::choose_gemm_tile(db, families_, m, n, k, DType::bf16, info.sm_count, info.smem_per_sm), choice->tile);
    check_dispatch_output(families_, db, m, stream());
  }
}

TEST_F(TuneGpu, ARerunResumesAndForceTunesAgain) {
  const TempDir dir("tune");
  TuneOptions o = options(dir / "tuning.json");
  o.tokens = {1};
  ASSERT_EQ(tune_gemm(o).tuned, 1u);
  o.tokens = {1, 64};  // one shape done, one new
  std::size_t candidate_events = 0;
  TuneSummary s = tune_gemm(o, [&](const TuneEvent& e) { candidate_events += e.kind == TuneEvent::Kind::candidate; });
  EXPECT_EQ(s.skipped, 1u);
  EXPECT_EQ(s.tuned, 1u);
  EXPECT_EQ(candidate_events, ops::gemm_tune_candidates(families_, 64).size());
  o.force = true;
  s = tune_gemm(o);
  EXPECT_EQ(s.skipped, 0u);
  EXPECT_EQ(s.tuned, 2u);
  EXPECT_EQ(jit::TuningDb::load(o.db_path, jit::tuning_environment(0)).size(), 2u);
}

TEST_F(TuneGpu, ABrokenCandidateScoresInfinityAndTheOthersGoOn) {
  const runtime::DeviceInfo& info = runtime::device_info(0);
  const int heuristic = ops::gemm_tile_for(families_, 1, n, k, info.sm_count, info.smem_per_sm);
  const std::vector<int> candidates = {999, heuristic, -2};
  std::size_t reported = 0;
  const std::vector<ops::CandidateResult> results = ops::tune_gemm_shape(
      families_, 1, n, k, DType::bf16, candidates, 20, stream(), [&](const ops::CandidateResult&) { ++reported; });
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(reported, 3u);
  EXPECT_TRUE(std::isinf(results[0].microseconds));
  EXPECT_CONTAINS(results[0].error, "tile 999");
  EXPECT_TRUE(std::isfinite(results[1].microseconds)) << results[1].error;
  EXPECT_TRUE(std::isinf(results[2].microseconds));
  EXPECT_CONTAINS(results[2].error, "candidate -2");
  // A tile too narrow for M is refused the same way: the 8-token decode tile at M = 64.
  for (int tile = 0; tile < static_cast<int>(std::size(ops::gemm_tiles)); ++tile)
    if (families_.contains(ops::gemm_tiles[tile].family) && ops::gemm_tiles[tile].swap_ab && ops::gemm_tiles[tile].bn < 64) {
      const auto narrow = ops::tune_gemm_shape(families_, 64, n, k, DType::bf16, {tile}, 20, stream());
      EXPECT_TRUE(std::isinf(narrow.at(0).microseconds));
      EXPECT_CONTAINS(narrow.at(0).error, "holds at most");
      break;
    }
}

}  // namespace
}  // namespace mxjit::testing
