// The MXFP8 GEMM on the GPU against an fp64 reference of the same dequantized operands, within
// design.md's bound |out - ref| <= 2^-7 |ref| + 2^-16 sum_k |a b|, on fresh random data.
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include <fmt/format.h>

#include "gpu_fixture.hpp"
#include "mxfp8_operands.hpp"
#include "mxjit/gemm.hpp"
#include "ops/gemm.hpp"
#include "ops/reference/mxfp8_reference.hpp"
#include "test_data.hpp"

namespace mxjit::testing {
namespace {

// Runs one GEMM over a poisoned output and checks it; returns the output for further comparisons.
std::vector<std::uint16_t> run_and_check(ops::GemmFamily family, const Mxfp8Operand& a, const Mxfp8Operand& b,
                                         DType out_dtype, bool with_bias, CUstream stream, std::mt19937_64& rng,
                                         int tile = -1) {
  SCOPED_TRACE(fmt::format("{} M={} N={} K={} out={} bias={}", family == ops::GemmFamily::wgmma ? "wgmma" : "mma",
                           a.rows, b.rows, a.cols, to_string(out_dtype), with_bias));
  DeviceOperand da(a), db(b);
  std::vector<std::uint16_t> bias(static_cast<std::size_t>(b.rows));
  std::normal_distribution<float> normal;
  for (auto& v : bias)
    v = out_dtype == DType::bf16 ? reference::float_to_bf16(normal(rng)) : reference::float_to_fp16(normal(rng));
  runtime::DeviceBuffer d_bias(bias.size() * 2), d_out(static_cast<std::size_t>(a.rows * b.rows * 2));
  d_bias.upload(bias.data(), d_bias.size());
  d_out.fill(0xFF, stream);  // NaN in bf16 and fp16: an unwritten element cannot pass
  const runtime::DeviceInfo& info = runtime::device_info(0);
  const std::uint64_t ws_bytes =
      std::max(gemm_mxfp8_workspace_bytes(a.rows, b.rows, a.cols),
               ops::plan_gemm(family, a.rows, b.rows, a.cols, info.sm_count, info.smem_per_sm, tile).workspace_bytes);
  runtime::DeviceBuffer workspace(std::max<std::uint64_t>(ws_bytes, 16));
  workspace.fill(0, stream);
  const TensorView bias_view = TensorView::contiguous(d_bias.get(), out_dtype, {b.rows});
  const TensorView out_view = TensorView::contiguous(d_out.get(), out_dtype, {a.rows, b.rows});
  ops::launch_gemm(family, da.q_view, da.scales_view, db.q_view, db.scales_view, with_bias ? &bias_view : nullptr,
                   out_view, workspace.get(), workspace.size(), stream, tile);
  MXJIT_CU(cuStreamSynchronize, stream);
  std::vector<std::uint16_t> out(static_cast<std::size_t>(a.rows * b.rows));
  d_out.download(out.data(), out.size() * 2);
  // fp8 wgmma's in-block accumulation (~14 bits, see ops/gemm.hpp) is held to 2^-13 sum|a b|; the exact
  // families to design.md's 2^-16.
  const int magnitude_exponent = family == ops::GemmFamily::wgmma ? -13 : -16;
  const GemmCheck c = check_gemm(a, b, out, out_dtype, with_bias ? &bias : nullptr, rng, 20000, magnitude_exponent);
  EXPECT_EQ(c.failures, 0) << c.first_failure << " (" << c.failures << " of " << c.checked << " checked)";
  ::testing::Test::RecordProperty(fmt::format("worst_ratio_M{}_N{}_K{}", a.rows, b.rows, a.cols), std::to_string(c.worst_ratio));
  return out;
}

// Every kernel family this GPU can run: wgmma on sm_90a, the portable mma.sync path everywhere.
class GemmGpu : public GpuTest, public ::testing::WithParamInterface<ops::GemmFamily> {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    if (!ops::gemm_family_supported(GetParam(), runtime::device_info(0).arch))
      GTEST_SKIP() << "this GPU cannot run this kernel family";
  }
  std::vector<std::uint16_t> run(const Mxfp8Operand& a, const Mxfp8Operand& b, DType out, bool bias, CUstream s,
                                 std::mt19937_64& rng) {
    return run_and_check(GetParam(), a, b, out, bias, s, rng);
  }
};

TEST_P(GemmGpu, IssueShapesBothOutputsWithAndWithoutBias) {
  std::mt19937_64 rng(fresh_seed());
  for (std::int64_t k : {32, 4096, 7168})
    for (std::int64_t n : {32, 2048, 4096 + 32}) {
      const Mxfp8Operand b = Mxfp8Operand::random(n, k, rng);
      for (std::int64_t m : {1, 7, 16, 64, 127, 128, 1000, 4096}) {
        const Mxfp8Operand a = Mxfp8Operand::random(m, k, rng);
        const bool bias = (m + n) % 2 == 0;
        run(a, b, DType::bf16, bias, stream(), rng);
        run(a, b, DType::fp16, !bias, stream(), rng);
      }
    }
}

TEST_P(GemmGpu, OddShapesAndDeepK) {
  std::mt19937_64 rng(fresh_seed());
  for (auto [m, n, k] : {std::tuple{3, 1, 64}, {17, 9, 96}, {33, 131, 160}, {2, 28672, 4096}, {5, 4096, 14336}}) {
    const Mxfp8Operand a = Mxfp8Operand::random(m, k, rng), b = Mxfp8Operand::random(n, k, rng);
    run(a, b, DType::bf16, true, stream(), rng);
  }
}

TEST_P(GemmGpu, EveryTileOfTheFamilyIncludingTuningCandidates) {
  std::mt19937_64 rng(fresh_seed());
  for (int tile = 0; tile < static_cast<int>(std::size(ops::gemm_tiles)); ++tile) {
    const ops::GemmTile& t = ops::gemm_tiles[tile];
    if (t.family != GetParam()) continue;
    SCOPED_TRACE(t.name());
    for (std::int64_t m : {std::int64_t{1}, std::int64_t{t.swap_ab ? t.bn : 77}}) {
      const Mxfp8Operand a = Mxfp8Operand::random(m, 2080, rng), b = Mxfp8Operand::random(300, 2080, rng);
      run_and_check(GetParam(), a, b, DType::bf16, true, stream(), rng, tile);
    }
  }
}

TEST_P(GemmGpu, RepeatRunsAreBitIdentical) {
  std::mt19937_64 rng(fresh_seed());
  const Mxfp8Operand a = Mxfp8Operand::random(3, 4096, rng), b = Mxfp8Operand::random(1024, 4096, rng);
  const auto first = run(a, b, DType::bf16, false, stream(), rng);  // split-K path
  EXPECT_EQ(run(a, b, DType::bf16, false, stream(), rng), first);
}

TEST_P(GemmGpu, TwoThreadsTwoStreams) {
  std::vector<std::thread> threads;
  std::vector<std::string> errors(2);
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      try {
        context_->make_current();
        runtime::Stream own;
        std::mt19937_64 rng(fresh_seed() + t);
        for (int i = 0; i < 3; ++i) {
          const Mxfp8Operand a = Mxfp8Operand::random(t ? 16 : 200, 1024, rng), b = Mxfp8Operand::random(512, 1024, rng);
          run(a, b, t ? DType::fp16 : DType::bf16, i % 2 == 0, own.get(), rng);
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
}

INSTANTIATE_TEST_SUITE_P(Families, GemmGpu, ::testing::Values(ops::GemmFamily::wgmma, ops::GemmFamily::mma),
                         [](const auto& info) { return info.param == ops::GemmFamily::wgmma ? "wgmma" : "mma"; });

}  // namespace
}  // namespace mxjit::testing
