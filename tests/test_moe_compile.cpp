// NVRTC compiles every MoE auxiliary kernel specialization on any machine, GPU or not, without spills.
#include <gtest/gtest.h>

#include <set>

#include "jit/nvrtc_compiler.hpp"
#include "mxjit/error.hpp"
#include "ops/moe_kernels.hpp"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

class MoeAuxCompiles : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeAuxCompiles, EverySpecToCubinWithoutSpills) {
  const jit::Arch arch = jit::Arch::parse(GetParam());
  const std::vector<std::string> options = jit::nvrtc_resource_report_options(arch);
  std::set<std::string> seen;  // the dtype-independent kernels appear in both lists: compile them once
  for (DType dtype : {DType::bf16, DType::fp16})
    for (const jit::KernelSpec& spec : ops::all_moe_aux_kernel_specs(arch, dtype)) {
      if (!seen.insert(spec.display_name()).second) continue;
      SCOPED_TRACE(spec.display_name());
      const jit::CompileOutput out = jit::compile_cubin(spec, options, "");
      EXPECT_EQ(out.cubin.substr(0, 4), "\x7f" "ELF");
      EXPECT_NE(out.lowered_name.find(spec.function.substr(spec.function.rfind(':') + 1)), std::string::npos)
          << out.lowered_name;
      EXPECT_NE(out.log.find("0 bytes spill stores"), std::string::npos) << out.log;
    }
}

INSTANTIATE_TEST_SUITE_P(Targets, MoeAuxCompiles, ::testing::Values("sm_90a", "sm_89"));

TEST(MoeAuxSpecs, DistinctAndCoveringBothLogitTypes) {
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  const auto specs = ops::all_moe_aux_kernel_specs(arch, DType::bf16);
  std::set<std::string> names;
  for (const jit::KernelSpec& s : specs) names.insert(s.display_name());
  EXPECT_EQ(names.size(), specs.size());
  EXPECT_EQ(specs.size(), 2u * 5 + 1 + 2 + 1);  // route (bf16, f32 logits x 5 sizes), group, silu x rule, combine
  EXPECT_TRUE(names.count("moe_route_topk<logits=mxjit::LogitF32,chunks=16>@sm_90a"));
  EXPECT_TRUE(names.count("moe_route_topk<logits=mxjit::LogitBf16,chunks=1>@sm_90a"));
  // The expert count picks the smallest class that holds it.
  EXPECT_EQ(ops::route_topk_kernel_spec(DType::f32, 33, arch).args[1].value, "2");
  EXPECT_EQ(ops::route_topk_kernel_spec(DType::f32, 256, arch).args[1].value, "8");
  EXPECT_EQ(ops::route_topk_kernel_spec(DType::f32, 257, arch).args[1].value, "16");
}

TEST(MoeAuxSpecs, RejectUnsupportedTypesAndArchs) {
  const jit::Arch hopper = jit::Arch::parse("sm_90a");
  using testing::error_message;
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument,
                                [&] { ops::all_moe_aux_kernel_specs(hopper, DType::f32); }),
                  "bf16 or fp16, got f32");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument,
                                [&] { ops::route_topk_kernel_spec(DType::bf16, 513, hopper); }),
                  "E = 513");
  EXPECT_CONTAINS(error_message(ErrorCode::unsupported,
                                [&] {
                                  ops::silu_mul_quantize_kernel_spec(DType::bf16, ScaleRule::rceil,
                                                                     jit::Arch::parse("sm_80"));
                                }),
                  "sm_89 or newer");
}

}  // namespace
}  // namespace mxjit
