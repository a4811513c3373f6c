// Model configs -> the linear and MoE layers a rank runs (--tp, --ep); warmup argument checks.
#include <gtest/gtest.h>

#include <fstream>
#include <tuple>

#include "mxjit/warmup.hpp"
#include "tests/test_support.hpp"
#include "tools/model_config.hpp"

namespace mxjit {
namespace {

using mxjit::testing::error_message;

nlohmann::json shipped(const std::string& name) {
  std::ifstream file(std::string(MXJIT_SOURCE_DIR) + "/tools/models/" + name + ".json");
  return nlohmann::json::parse(file);
}

std::vector<std::pair<std::int64_t, std::int64_t>> shapes_of(const tools::ModelLayers& m) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const LinearShape& l : m.linear) out.emplace_back(l.n, l.k);
  return out;
}

using Shapes = std::vector<std::pair<std::int64_t, std::int64_t>>;

TEST(ModelConfig, Llama3GivesTheIssuesShapes) {
  // Llama-3-8B: (N, K) = (6144, 4096), (4096, 4096), (28672, 4096), (4096, 14336).
  EXPECT_EQ(shapes_of(tools::model_layers(shipped("llama-3-8b"), 1)),
            (Shapes{{6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336}}));
  // Llama-3-70B at TP=8: (1280, 8192), (8192, 1024), (7168, 8192), (8192, 3584).
  EXPECT_EQ(shapes_of(tools::model_layers(shipped("llama-3-70b"), 8)),
            (Shapes{{1280, 8192}, {8192, 1024}, {7168, 8192}, {8192, 3584}}));
}

// The routed experts as (local experts, global experts, H, I per partition, top_k).
using Moe = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>;

Moe moe_of(const tools::ModelLayers& m) {
  EXPECT_EQ(m.moe.size(), 1u);
  if (m.moe.empty()) return {};
  const MoeShape& e = m.moe[0];
  EXPECT_EQ(e.name, "mlp.experts");
  return {e.experts, e.global_experts, e.hidden, e.intermediate, e.top_k};
}

TEST(ModelConfig, MoeModelsGiveTheirLinearLayersAndRoutedExperts) {
  const tools::ModelLayers qwen = tools::model_layers(shipped("qwen3-30b-a3b"), 1);
  EXPECT_EQ(shapes_of(qwen), (Shapes{{(32 + 8) * 128, 2048}, {2048, 4096}}));  // attention only
  EXPECT_EQ(moe_of(qwen), (Moe{128, 128, 2048, 768, 8}));
  EXPECT_TRUE(qwen.not_covered.empty());
  // Mixtral has no moe_intermediate_size: its experts are intermediate_size wide, split by --tp.
  const tools::ModelLayers mixtral = tools::model_layers(shipped("mixtral-8x7b"), 2);
  EXPECT_EQ(shapes_of(mixtral), (Shapes{{(16 + 8) * 128, 4096}, {4096, 2048}}));
  EXPECT_EQ(moe_of(mixtral), (Moe{8, 8, 4096, 14336 / 2, 2}));
  // DeepSeek-V3: MLA projections, 3 dense MLP layers, one shared expert, 256 routed experts.
  const Shapes ds_tp8{{1536, 7168}, {16 * 192, 1536}, {576, 7168}, {16 * 256, 512}, {7168, 16 * 128},
                      {2 * 2304, 7168}, {7168, 2304}, {2 * 256, 7168}, {7168, 256}};
  const tools::ModelLayers ds = tools::model_layers(shipped("deepseek-v3"), 8);
  EXPECT_EQ(shapes_of(ds), ds_tp8);
  EXPECT_EQ(moe_of(ds), (Moe{256, 256, 7168, 2048 / 8, 8}));
}

TEST(ModelConfig, ExpertParallelismGivesEachRankWholeExperts) {
  // vLLM's TP + EP (ep = tp): experts / 8 whole experts per rank; the dense layers keep their --tp split.
  const tools::ModelLayers ds = tools::model_layers(shipped("deepseek-v3"), 8, 8);
  EXPECT_EQ(moe_of(ds), (Moe{32, 256, 7168, 2048, 8}));
  EXPECT_EQ(shapes_of(ds), shapes_of(tools::model_layers(shipped("deepseek-v3"), 8)));
  // SGLang's moe_tp = tp / ep: 4 expert groups, each expert split over 2 ranks.
  EXPECT_EQ(moe_of(tools::model_layers(shipped("qwen3-30b-a3b"), 8, 4)), (Moe{32, 128, 2048, 768 / 2, 8}));
  // --ep above --tp: data-parallel attention; attention unsplit, experts whole.
  const tools::ModelLayers dp = tools::model_layers(shipped("qwen3-30b-a3b"), 1, 8);
  EXPECT_EQ(moe_of(dp), (Moe{16, 128, 2048, 768, 8}));
  EXPECT_EQ(shapes_of(dp), shapes_of(tools::model_layers(shipped("qwen3-30b-a3b"), 1)));
  EXPECT_EQ(moe_of(tools::model_layers(shipped("mixtral-8x7b"), 2, 8)), (Moe{1, 8, 4096, 14336, 2}));
  // Dense models have no MoE layer, whatever --ep says.
  EXPECT_TRUE(tools::model_layers(shipped("llama-3-8b"), 1, 4).moe.empty());
}

TEST(ModelConfig, MoeShardingErrorsNameTheFieldAndTheRule) {
  // A small MoE model: 4 heads, 12 experts of intermediate size 96.
  const nlohmann::json small = {{"hidden_size", 256},       {"num_attention_heads", 4}, {"num_key_value_heads", 4},
                                {"intermediate_size", 96}, {"num_local_experts", 12},  {"num_experts_per_tok", 2}};
  auto message = [&](const nlohmann::json& config, int tp, int ep) {
    return error_message(ErrorCode::invalid_argument, [&] { tools::model_layers(config, tp, ep); });
  };
  EXPECT_EQ(moe_of(tools::model_layers(small, 4, 2)), (Moe{6, 12, 256, 48, 2}));
  EXPECT_CONTAINS(message(shipped("qwen3-30b-a3b"), 1, 3), "num_experts = 128 is not divisible by --ep 3");
  EXPECT_CONTAINS(message(shipped("deepseek-v3"), 8, 3), "n_routed_experts = 256 is not divisible by --ep 3");
  EXPECT_CONTAINS(message(shipped("mixtral-8x7b"), 1, 16), "num_local_experts = 8 is not divisible by --ep 16");
  EXPECT_CONTAINS(message(small, 4, 3), "--tp 4 is not divisible by --ep 3");
  EXPECT_CONTAINS(message(small, 4, 6), "--ep 6 is neither a divisor nor a multiple of --tp 4");
  EXPECT_CONTAINS(message(shipped("qwen3-30b-a3b"), 1, 0), "--ep must be >= 1, got 0");
  nlohmann::json odd = small;
  odd["intermediate_size"] = 91;
  EXPECT_CONTAINS(message(odd, 4, 1), "intermediate_size = 91 is not divisible by --tp 4");
  EXPECT_CONTAINS(message(odd, 4, 2), "intermediate_size = 91 is not divisible by the 2 ranks that split each expert "
                                      "(--tp 4 / --ep 2)");
  odd["moe_intermediate_size"] = 38;
  EXPECT_CONTAINS(message(odd, 4, 1), "moe_intermediate_size = 38 is not divisible by --tp 4");
  nlohmann::json no_top_k = small;
  no_top_k.erase("num_experts_per_tok");
  EXPECT_CONTAINS(message(no_top_k, 1, 1), "missing integer field 'num_experts_per_tok'");
}

TEST(ModelConfig, KvHeadsAreReplicatedBelowTheTpSize) {
  const tools::ModelLayers m = tools::model_layers(shipped("llama-3-70b"), 16);  // 8 kv heads on 16 ranks
  EXPECT_EQ(m.linear[0].n, (4 + 2 * 1) * 128);
}

TEST(ModelConfig, ErrorsNameTheFieldAndTheRule) {
  EXPECT_NE(error_message(ErrorCode::invalid_argument, [] { tools::model_layers(shipped("llama-3-8b"), 3); })
                .find("num_attention_heads = 32 is not divisible by --tp 3"),
            std::string::npos);
  EXPECT_NE(error_message(ErrorCode::invalid_argument,
                          [] { tools::model_layers(nlohmann::json{{"hidden_size", 64}}, 1); })
                .find("missing integer field 'num_attention_heads'"),
            std::string::npos);
}

TEST(WarmupLinearLayers, RejectsBadLayersBeforeCompiling) {
  EXPECT_NE(error_message(ErrorCode::invalid_argument,
                          [] { warmup_linear_layers({{"odd", 64, 48}}, {1}, DType::bf16, "sm_90a", 1); })
                .find("layer odd has n = 64, k = 48"),
            std::string::npos);
  EXPECT_NE(error_message(ErrorCode::invalid_argument,
                          [] { warmup_linear_layers({{"ok", 64, 64}}, {0}, DType::bf16, "sm_90a", 1); })
                .find("token count 0"),
            std::string::npos);
  EXPECT_NE(error_message(ErrorCode::invalid_argument,
                          [] { warmup_linear_layers({{"ok", 64, 64}}, {1}, DType::f32, "sm_90a", 1); })
                .find("bf16 or fp16, got f32"),
            std::string::npos);
  EXPECT_NE(error_message(ErrorCode::invalid_argument,
                          [] { warmup_linear_layers({{"ok", 64, 64}}, {1}, DType::bf16, "sm90", 1); })
                .find("invalid architecture 'sm90'"),
            std::string::npos);
}

}  // namespace
}  // namespace mxjit
