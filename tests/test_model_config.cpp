// Model configs -> the linear layers a tensor-parallel rank runs; warmup argument checks.
#include <gtest/gtest.h>

#include <fstream>

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

TEST(ModelConfig, MoeModelsListTheirExpertsAsNotCovered) {
  const tools::ModelLayers qwen = tools::model_layers(shipped("qwen3-30b-a3b"), 1);
  EXPECT_EQ(shapes_of(qwen), (Shapes{{(32 + 8) * 128, 2048}, {2048, 4096}}));  // attention only
  ASSERT_EQ(qwen.not_covered.size(), 1u);
  EXPECT_NE(qwen.not_covered[0].find("128 routed experts (top-8)"), std::string::npos);
  const tools::ModelLayers mixtral = tools::model_layers(shipped("mixtral-8x7b"), 2);
  EXPECT_EQ(shapes_of(mixtral), (Shapes{{(16 + 8) * 128, 4096}, {4096, 2048}}));
  // DeepSeek-V3: MLA projections, 3 dense MLP layers, one shared expert.
  const tools::ModelLayers ds = tools::model_layers(shipped("deepseek-v3"), 8);
  EXPECT_EQ(shapes_of(ds), (Shapes{{1536, 7168}, {16 * 192, 1536}, {576, 7168}, {16 * 256, 512}, {7168, 16 * 128},
                                   {2 * 2304, 7168}, {7168, 2304}, {2 * 256, 7168}, {7168, 256}}));
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
