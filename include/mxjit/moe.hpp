// The MXFP8 Mixture-of-Experts method: the contract of vLLM's Mxfp8OnlineMoEMethod (design.md 5).
//
//   Mxfp8MoE moe(E, top_k, H, I, DType::bf16);             // create_weights: shape checks
//   moe.load_weights(w13_src, w2_src, stream);             // or fill w13_weight() / w2_weight() directly
//   moe.process_weights_after_loading(stream);             // quantize all experts, one launch per tensor
//   moe.apply({x, &router_logits}, out, stream);            // route, group, two grouped GEMMs, combine
//
// Forward for tokens x [T, H]: softmax(router_logits) -> top-k (-> renormalize), or the engine's own
// top-k ids and weights; (token, slot) pairs grouped by expert on the device; h = x . W13[e]^T (+ bias);
// a = silu(h[:, :I]) * h[:, I:] quantized to MXFP8; y = a . W2[e]^T (+ bias); out_t = sum_j w_tj y_tj
// in fp32, cast to x's dtype. Expert parallelism: an expert map sends global ids to local experts or
// drops them (-1); tokens whose experts all live elsewhere get 0 (the engine's all-reduce adds the rest).
//
// Device memory (weights and a workspace for Options::max_tokens tokens) is allocated up front in the calling
// thread's current context: apply() never allocates, synchronizes or reads back to the host, so it can be
// captured in a CUDA graph. The workspace is about P * (2 max(2I, H) + 2 max(H, I) + I) bytes for P =
// max_tokens * top_k (token, slot) pairs: h or y, the prefill GEMMs' bf16 operand gathered per pair, and the
// intermediate; e.g. 0.8 GB for a Mixtral-8x7B layer at 8192 tokens. One layer's apply() calls must not run
// concurrently (they share the workspace). Results are identical run to run.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <memory>

#include "mxjit/types.hpp"

namespace mxjit {

class Mxfp8MoE {
 public:
  struct Options {
    std::int64_t max_tokens = 8192;  // the largest T apply() accepts; sizes the workspace
    ScaleRule rule = ScaleRule::rceil;
    // Experts of the whole model (router columns, expert-map length); 0 = num_experts (no expert parallelism).
    std::int64_t global_num_experts = 0;
  };

  // create_weights. Throws Error(invalid_argument) for H or I not divisible by 32 ("MXFP8 requires
  // hidden_size (H) to be divisible by 32, ..."), non-positive sizes, top_k outside [1, min(E_global, 32)],
  // more than 1024 local or 512 global experts, or a params_dtype other than bf16/fp16.
  Mxfp8MoE(std::int64_t num_experts, std::int64_t top_k, std::int64_t hidden_size,
           std::int64_t intermediate_size_per_partition, DType params_dtype);
  Mxfp8MoE(std::int64_t num_experts, std::int64_t top_k, std::int64_t hidden_size,
           std::int64_t intermediate_size_per_partition, DType params_dtype, Options options);
  ~Mxfp8MoE();
  Mxfp8MoE(Mxfp8MoE&&) noexcept;
  Mxfp8MoE& operator=(Mxfp8MoE&&) noexcept;

  std::int64_t num_experts() const;
  std::int64_t top_k() const;
  std::int64_t hidden_size() const;
  std::int64_t intermediate_size() const;
  DType params_dtype() const;
  bool processed() const;

  // Before processing: the params_dtype weights for a loader to fill, w13 [E, 2I, H] (rows 0..I-1 of each
  // expert the gate projection, I..2I-1 the up projection) and w2 [E, H, I]. After: the same shapes in e4m3.
  TensorView w13_weight() const;
  TensorView w2_weight() const;
  // After processing: [E, 2I, H/32] and [E, H, I/32] e8m0 (rows padded to a multiple of 4 bytes). Throw before.
  TensorView w13_weight_scale() const;
  TensorView w2_weight_scale() const;
  // Copies contiguous params_dtype weights from device memory on `stream`.
  void load_weights(std::uint64_t w13_src, std::uint64_t w2_src, CUstream stream);

  // Quantizes all experts (one launch per tensor) and frees the high-precision copies (synchronizes
  // `stream` first). A second call does nothing.
  void process_weights_after_loading(CUstream stream);

  struct Inputs {
    TensorView x;  // [T, H] params_dtype, 1 <= T <= max_tokens, 16-byte aligned rows
    // Either router logits [T, E_global] (bf16, fp16 or f32): softmax, top-k, optional renormalization here ...
    const TensorView* router_logits = nullptr;
    bool renormalize = false;
    // ... or the engine's routing: topk_ids [T, top_k] i32 (global ids) and topk_weights [T, top_k] f32.
    const TensorView* topk_ids = nullptr;
    const TensorView* topk_weights = nullptr;
    const TensorView* expert_map = nullptr;  // [E_global] i32: global id -> local id, or -1 (not here)
    const TensorView* w13_bias = nullptr;    // [E, 2I] params_dtype
    const TensorView* w2_bias = nullptr;     // [E, H] params_dtype
  };
  // out: [T, H] params_dtype, contiguous.
  void apply(const Inputs& inputs, const TensorView& out, CUstream stream) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mxjit
