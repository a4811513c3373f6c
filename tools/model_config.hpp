// A Hugging Face style config.json -> the linear and MoE layers one rank runs (header-only: the tool and
// its tests share it).
//
// Parallelism as vLLM and SGLang shard a model: attention and dense MLPs are split over --tp ranks. The
// routed experts are spread over --ep ranks (expert parallelism), each holding experts / ep whole experts,
// and the tp / ep ranks that share them split the experts' intermediate size (vLLM's TP + EP has ep = tp:
// whole experts, I unsplit; SGLang's moe_tp = tp / ep). An --ep above --tp (a multiple of it) is
// data-parallel attention: experts unsplit.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mxjit/error.hpp"
#include "mxjit/warmup.hpp"

namespace mxjit::tools {

struct ModelLayers {
  std::vector<LinearShape> linear;  // deduplicated by (n, k), named after the first layer of each shape
  std::vector<MoeShape> moe;        // the routed experts (every MoE layer of a model has the same shape)
  std::vector<std::string> not_covered;  // parts of the model neither method serves
  DType dtype = DType::bf16;
};

inline ModelLayers model_layers(const nlohmann::json& c, int tp, int ep = 1) {
  auto fail = [](const std::string& why) { return Error(ErrorCode::invalid_argument, "model config: " + why); };
  auto get = [&](const char* key) -> std::int64_t {
    if (!c.contains(key) || !c[key].is_number_integer()) throw fail(fmt::format("missing integer field '{}'", key));
    return c[key].get<std::int64_t>();
  };
  auto get_or = [&](const char* key, std::int64_t fallback) {
    return c.contains(key) && c[key].is_number_integer() ? c[key].get<std::int64_t>() : fallback;
  };
  auto split = [&](std::int64_t size, const char* what) {
    if (size % tp != 0) throw fail(fmt::format("{} = {} is not divisible by --tp {}", what, size, tp));
    return size / tp;
  };
  if (tp < 1) throw fail(fmt::format("--tp must be >= 1, got {}", tp));
  if (ep < 1) throw fail(fmt::format("--ep must be >= 1, got {}", ep));
  ModelLayers out;
  if (c.value("torch_dtype", "bfloat16") == "float16") out.dtype = DType::fp16;
  auto add = [&](const char* name, std::int64_t n, std::int64_t k) {
    for (const LinearShape& s : out.linear)
      if (s.n == n && s.k == k) return;
    out.linear.push_back({name, n, k});
  };

  const std::int64_t hidden = get("hidden_size"), heads = get("num_attention_heads");
  const std::int64_t local_heads = split(heads, "num_attention_heads");
  if (c.contains("q_lora_rank")) {  // multi-head latent attention (DeepSeek)
    const std::int64_t q_rank = get("q_lora_rank"), kv_rank = get("kv_lora_rank");
    const std::int64_t nope = get("qk_nope_head_dim"), rope = get("qk_rope_head_dim"), v = get("v_head_dim");
    add("attn.q_a_proj", q_rank, hidden);
    add("attn.q_b_proj", local_heads * (nope + rope), q_rank);
    add("attn.kv_a_proj_with_mqa", kv_rank + rope, hidden);
    add("attn.kv_b_proj", local_heads * (nope + v), kv_rank);
    add("attn.o_proj", hidden, local_heads * v);
  } else {
    const std::int64_t head_dim = get_or("head_dim", hidden / heads);
    const std::int64_t kv = get_or("num_key_value_heads", heads);
    const std::int64_t local_kv = kv >= tp ? split(kv, "num_key_value_heads") : 1;  // replicated below tp
    add("attn.qkv_proj", (local_heads + 2 * local_kv) * head_dim, hidden);
    add("attn.o_proj", hidden, local_heads * head_dim);
  }
  // Routed experts: num_experts (Qwen), else num_local_experts (Mixtral), else n_routed_experts (DeepSeek).
  const char* experts_field = "n_routed_experts";
  for (const char* key : {"num_local_experts", "num_experts"})  // later keys take precedence
    if (c.contains(key) && c[key].is_number_integer()) experts_field = key;
  const std::int64_t experts = get_or(experts_field, 0);
  const bool dense_mlp = experts == 0 || get_or("first_k_dense_replace", 0) > 0;
  if (dense_mlp) {
    const std::int64_t inter = split(get("intermediate_size"), "intermediate_size");
    add("mlp.gate_up_proj", 2 * inter, hidden);
    add("mlp.down_proj", hidden, inter);
  }
  if (const std::int64_t shared = get_or("n_shared_experts", 0); shared > 0) {
    const std::int64_t inter = split(shared * get("moe_intermediate_size"), "n_shared_experts * moe_intermediate_size");
    add("mlp.shared_experts.gate_up_proj", 2 * inter, hidden);
    add("mlp.shared_experts.down_proj", hidden, inter);
  }
  if (experts > 0) {  // the routed experts: one Mxfp8MoE per MoE layer
    if (experts % ep != 0) throw fail(fmt::format("{} = {} is not divisible by --ep {}", experts_field, experts, ep));
    std::int64_t moe_tp = 1;  // ranks that split each expert's intermediate size
    if (ep <= tp) {
      if (tp % ep != 0) throw fail(fmt::format("--tp {} is not divisible by --ep {}", tp, ep));
      moe_tp = tp / ep;
    } else if (ep % tp != 0) {
      throw fail(fmt::format("--ep {} is neither a divisor nor a multiple of --tp {}", ep, tp));
    }
    // Mixtral's experts are as wide as its dense MLP would be: it has no moe_intermediate_size.
    const char* inter_field = c.contains("moe_intermediate_size") ? "moe_intermediate_size" : "intermediate_size";
    const std::int64_t inter = get(inter_field);
    if (inter % moe_tp != 0)
      throw fail(ep == 1 ? fmt::format("{} = {} is not divisible by --tp {}", inter_field, inter, tp)
                         : fmt::format("{} = {} is not divisible by the {} ranks that split each expert (--tp {} / --ep {})",
                                       inter_field, inter, moe_tp, tp, ep));
    out.moe.push_back({"mlp.experts", experts / ep, experts, hidden, inter / moe_tp, get("num_experts_per_tok")});
  }
  return out;
}

}  // namespace mxjit::tools
