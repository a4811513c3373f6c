// ops::plan_gemm on the CPU: the workspace of a plan holds what its launches write (the bf16 operand of
// the prepass, then the split-K partials), for an H100's SM count and shared memory.
#include <gtest/gtest.h>

#include "ops/dequantize_bf16.hpp"
#include "ops/gemm.hpp"

namespace mxjit {
namespace {

constexpr int h100_sms = 132, h100_smem_per_sm = 228 * 1024;

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

TEST(GemmPlan, DecodeNeedsNoWorkspace) {
  for (std::int64_t m : {1, 16}) {
    const ops::GemmPlan plan = ops::plan_gemm(ops::GemmFamilies::dispatched(jit::Arch::parse("sm_90a")), m, 28672,
                                              4096, h100_sms, h100_smem_per_sm);
    EXPECT_TRUE(ops::gemm_tiles[plan.tile].streaming) << "M = " << m;
    EXPECT_EQ(plan.workspace_bytes, 0u) << "M = " << m;
  }
}

}  // namespace
}  // namespace mxjit
