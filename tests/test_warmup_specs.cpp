// What warmup compiles for a model's linear and MoE layers (ops::layer_kernel_specs) against what the ops
// load: Mxfp8Linear's quantize and GEMM tile, and for Mxfp8MoE::apply the quantize of x, routing, grouping,
// the grouped GEMM tile of each GEMM (ops::moe_grouped_gemm_tile, the function apply itself calls), the
// SiLU-mul quantize and the combine. No GPU and no compile: specializations only.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "mxjit/warmup.hpp"
#include "ops/gemm.hpp"
#include "ops/grouped_gemm.hpp"
#include "ops/layer_kernels.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/moe_plan.hpp"
#include "ops/quantize.hpp"
#include "tests/test_support.hpp"
#include "tools/model_config.hpp"

namespace mxjit {
namespace {

using Names = std::set<std::string>;
using testing::error_message;

const std::vector<std::int64_t> all_tokens = {1, 2, 7, 16, 31, 64, 100, 256, 2048, 8192};

tools::ModelLayers shipped(const std::string& name, int tp, int ep) {
  std::ifstream file(std::string(MXJIT_SOURCE_DIR) + "/tools/models/" + name + ".json");
  return tools::model_layers(nlohmann::json::parse(file), tp, ep);
}

Names names_of(const std::vector<jit::KernelSpec>& specs) {
  Names names;
  for (const jit::KernelSpec& s : specs) names.insert(s.display_name());
  EXPECT_EQ(names.size(), specs.size()) << "a kernel is listed twice";
  return names;
}

// The kernels Mxfp8MoE::apply loads for layer `m` at T tokens, spelled out
// launch by launch as ops/moe.cpp makes them (router logits of `logits` type).
Names apply_kernels(const MoeShape& m, std::int64_t t, DType dtype, DType logits, const jit::Arch& arch) {
  Names names;
  names.insert(ops::route_topk_kernel_spec(logits, static_cast<int>(m.global_experts), arch).display_name());
  names.insert(ops::group_by_expert_kernel_spec(arch).display_name());
  names.insert(ops::quantize_kernel_spec(dtype, ScaleLayout::linear, ScaleRule::rceil, arch).display_name());
  const int tile = ops::moe_grouped_gemm_tile({m.experts, m.global_experts, m.hidden, m.intermediate, m.top_k}, t, arch);  // both GEMMs
  for (const jit::KernelSpec& spec : ops::grouped_gemm_launch_kernel_specs(ops::grouped_gemm_tiles[tile], dtype, arch))
    names.insert(spec.display_name());
  names.insert(ops::silu_mul_quantize_kernel_spec(dtype, ScaleRule::rceil, arch).display_name());
  names.insert(ops::moe_combine_kernel_spec(dtype, arch).display_name());
  return names;
}

Names apply_kernels_all_tokens(const MoeShape& m, DType dtype, const jit::Arch& arch) {
  Names names;
  for (std::int64_t t : all_tokens)
    for (DType logits : {DType::f32, dtype}) names.merge(apply_kernels(m, t, dtype, logits, arch));
  return names;
}

struct MoeCase {
  const char* model;
  int tp, ep;
};

class WarmupSpecs : public ::testing::TestWithParam<MoeCase> {};

// Exactly the kernels apply loads, nothing more.
TEST_P(WarmupSpecs, MoeLayerGivesExactlyWhatApplyLoads) {
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  const tools::ModelLayers model = shipped(GetParam().model, GetParam().tp, GetParam().ep);
  ASSERT_EQ(model.moe.size(), 1u);
  for (DType dtype : {DType::bf16, DType::fp16}) {
    SCOPED_TRACE(to_string(dtype));
    EXPECT_EQ(names_of(ops::layer_kernel_specs({}, model.moe, all_tokens, dtype, arch)),
              apply_kernels_all_tokens(model.moe[0], dtype, arch));
  }
}

// A whole model in one batch: the linear kernels (quantize, a GEMM tile per token count) and the MoE
// kernels, the shared quantize once.
TEST_P(WarmupSpecs, WholeModelIsTheUnionOfBothMethods) {
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  const tools::ModelLayers model = shipped(GetParam().model, GetParam().tp, GetParam().ep);
  Names expected = apply_kernels_all_tokens(model.moe[0], DType::bf16, arch);
  expected.insert(ops::quantize_kernel_spec(DType::bf16, ScaleLayout::linear, ScaleRule::rceil, arch).display_name());
  const ops::GemmFamilies families = ops::GemmFamilies::dispatched(arch);
  for (const LinearShape& l : model.linear)
    for (std::int64_t m : all_tokens)
      for (const ops::GpuSize& gpu : ops::warmup_gpu_sizes())
        for (const jit::KernelSpec& spec : ops::gemm_launch_kernel_specs(
                 ops::gemm_tiles[ops::gemm_tile_for(families, m, l.n, l.k, gpu.sm_count, gpu.smem_per_sm)], DType::bf16, arch))
          expected.insert(spec.display_name());
  EXPECT_EQ(names_of(ops::layer_kernel_specs(model.linear, model.moe, all_tokens, DType::bf16, arch)), expected);
}

INSTANTIATE_TEST_SUITE_P(Models, WarmupSpecs,
                         ::testing::Values(MoeCase{"qwen3-30b-a3b", 1, 1}, MoeCase{"qwen3-30b-a3b", 4, 1},
                                           MoeCase{"mixtral-8x7b", 2, 1}, MoeCase{"deepseek-v3", 8, 1},
                                           MoeCase{"deepseek-v3", 8, 8}),
                         [](const ::testing::TestParamInfo<MoeCase>& info) {
                           std::string name = fmt::format("{}_tp{}_ep{}", info.param.model, info.param.tp, info.param.ep);
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(WarmupSpecs, ExpertParallelRoutingSpansTheGlobalExperts) {
  // DeepSeek-V3 on 8 expert-parallel ranks: 32 local experts, but the router sees all 256 (chunks = 8).
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  const Names names = names_of(ops::layer_kernel_specs({}, shipped("deepseek-v3", 8, 8).moe, {1}, DType::bf16, arch));
  EXPECT_TRUE(names.count(ops::route_topk_kernel_spec(DType::f32, 256, arch).display_name()));
  EXPECT_TRUE(names.count(ops::route_topk_kernel_spec(DType::bf16, 256, arch).display_name()));
  EXPECT_FALSE(names.count(ops::route_topk_kernel_spec(DType::f32, 32, arch).display_name()));
  // global_experts = 0 means no expert parallelism: the local count.
  const Names plain = names_of(ops::layer_kernel_specs({}, {{"e", 32, 0, 256, 64, 4}}, {1}, DType::bf16, arch));
  EXPECT_TRUE(plain.count(ops::route_topk_kernel_spec(DType::f32, 32, arch).display_name()));
}

TEST(WarmupSpecs, LinearOnlyIsUnchangedAndMoeOnlyHasNoGemm) {
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  EXPECT_EQ(ops::layer_kernel_specs({{"l", 4096, 4096}}, {}, {1, 16}, DType::bf16, arch).size(), 3u);
  EXPECT_TRUE(ops::layer_kernel_specs({}, {}, {1}, DType::bf16, arch).empty());
  for (const jit::KernelSpec& s : ops::layer_kernel_specs({}, {{"e", 8, 8, 4096, 14336, 2}}, {1}, DType::bf16, arch))
    EXPECT_EQ(s.family.find("mxfp8_gemm"), std::string::npos) << s.display_name();  // dense GEMM families
}

TEST(WarmupLayers, RejectsBadMoeLayersNamingThem) {
  auto message = [](MoeShape m, std::vector<std::int64_t> tokens = {1}) {
    return error_message(ErrorCode::invalid_argument,
                         [&] { warmup_layers({}, {m}, tokens, DType::bf16, "sm_90a", 1); });
  };
  // name, local, global, H, I, top_k
  EXPECT_CONTAINS(message({"a", 8, 8, 4100, 1024, 2}), "MoE layer a has hidden = 4100: MXFP8 needs a positive multiple of 32");
  EXPECT_CONTAINS(message({"b", 8, 8, 4096, 0, 2}), "MoE layer b has intermediate = 0");
  EXPECT_CONTAINS(message({"c", 8, 8, 4096, 100, 2}), "MoE layer c has intermediate = 100");
  EXPECT_CONTAINS(message({"d", 0, 8, 4096, 1024, 2}), "MoE layer d has 0 local experts; 1 to 1024 are supported");
  EXPECT_CONTAINS(message({"e", 1025, 0, 4096, 1024, 2}), "MoE layer e has 1025 local experts");
  EXPECT_CONTAINS(message({"f", 16, 8, 4096, 1024, 2}), "MoE layer f has 8 global experts; they must be within [local experts = 16, 512]");
  EXPECT_CONTAINS(message({"g", 16, 513, 4096, 1024, 2}), "MoE layer g has 513 global experts");
  EXPECT_CONTAINS(message({"h", 8, 8, 4096, 1024, 0}), "MoE layer h has top_k = 0; it must be within [1, min(global experts = 8, 32)]");
  EXPECT_CONTAINS(message({"i", 8, 8, 4096, 1024, 9}), "MoE layer i has top_k = 9");
  EXPECT_CONTAINS(message({"j", 64, 64, 4096, 1024, 33}), "MoE layer j has top_k = 33");
  EXPECT_CONTAINS(message({"k", 64, 64, 4096, 1024, 8}, {1, std::int64_t{1} << 27}), "MoE layer k at 134217728 tokens");
  EXPECT_CONTAINS(message({"l", 8, 8, 4096, 1024, 2}, {0}), "token count 0");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument,
                                [] { warmup_layers({}, {{"m", 8, 8, 4096, 1024, 2}}, {1}, DType::f32, "sm_90a", 1); }),
                  "bf16 or fp16, got f32");
  // A good MoE layer does not excuse a bad linear one.
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument,
                                [] { warmup_layers({{"odd", 64, 48}}, {{"ok", 8, 8, 4096, 1024, 2}}, {1}, DType::bf16, "sm_90a", 1); }),
                  "layer odd has n = 64, k = 48");
}

}  // namespace
}  // namespace mxjit
