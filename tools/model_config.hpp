// A Hugging Face style config.json -> the linear layers one tensor-parallel rank runs (header-only: the
// tool and its tests share it). MoE experts belong to the MoE method and are listed, not returned.
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
  std::vector<std::string> not_covered;  // parts of the model no linear-method kernel serves
  DType dtype = DType::bf16;
};

inline ModelLayers model_layers(const nlohmann::json& c, int tp) {
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
  const std::int64_t experts = get_or("num_experts", get_or("num_local_experts", get_or("n_routed_experts", 0)));
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
  if (experts > 0)
    out.not_covered.push_back(fmt::format("{} routed experts (top-{}): the MoE method, not yet implemented", experts,
                                          get_or("num_experts_per_tok", 0)));
  return out;
}

}  // namespace mxjit::tools
