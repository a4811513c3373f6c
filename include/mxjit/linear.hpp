// The MXFP8 linear method: the contract of vLLM's Mxfp8OnlineLinearMethod (design.md 4).
//
//   Mxfp8Linear layer(K, {N0, N1}, K_full, N_full, DType::bf16);   // create_weights: shape checks
//   layer.load_weight(src, stream);                               // or fill layer.weight() directly
//   layer.process_weights_after_loading(stream);                  // quantize once, free the bf16 copy
//   layer.apply(x, &bias, out, stream);                           // quantize x, block-scaled GEMM, + bias
//
// Device memory (weights and a workspace for up to Options::max_tokens rows) is allocated up front in
// the calling thread's current context; apply() never allocates or synchronizes, so it can be captured
// in a CUDA graph. One layer's apply() calls must not run concurrently (they share the workspace).
#pragma once

#include <cuda.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "mxjit/types.hpp"

namespace mxjit {

class Mxfp8Linear {
 public:
  struct Options {
    std::int64_t max_tokens = 8192;  // the largest M apply() accepts; sizes the workspace
    ScaleRule rule = ScaleRule::rceil;
  };

  // create_weights. Throws Error(invalid_argument) for K % 32 != 0 ("MXFP8 requires
  // input_size_per_partition (K) to be divisible by 32"), non-positive sizes, a partition larger than
  // the full layer, or a params_dtype other than bf16/fp16.
  Mxfp8Linear(std::int64_t input_size_per_partition, std::vector<std::int64_t> output_partition_sizes,
              std::int64_t input_size, std::int64_t output_size, DType params_dtype);
  Mxfp8Linear(std::int64_t input_size_per_partition, std::vector<std::int64_t> output_partition_sizes,
              std::int64_t input_size, std::int64_t output_size, DType params_dtype, Options options);
  ~Mxfp8Linear();
  Mxfp8Linear(Mxfp8Linear&&) noexcept;
  Mxfp8Linear& operator=(Mxfp8Linear&&) noexcept;

  std::int64_t in_features() const;   // K
  std::int64_t out_features() const;  // N = sum(output_partition_sizes)
  DType params_dtype() const;
  bool processed() const;

  // Before processing: the [N, K] params_dtype weight for a loader to fill. After: the [N, K] e4m3 weight.
  TensorView weight() const;
  // After processing: [N, K/32] e8m0 (rows padded to a multiple of 4 bytes). Throws before.
  TensorView weight_scale() const;
  // Copies a [N, K] params_dtype weight from device memory `src` (contiguous) on `stream`.
  void load_weight(std::uint64_t src, CUstream stream);

  // Quantizes the weight to MXFP8 once and frees the high-precision copy (synchronizes `stream` first).
  // A second call does nothing.
  void process_weights_after_loading(CUstream stream);

  // out[M, N] = x[M, K] . W^T (+ bias[N]); x: [M, K] params_dtype with unit column stride and 16-byte
  // aligned rows, 1 <= M <= max_tokens; out: [M, N] of x's dtype; bias: null or [N] of x's dtype.
  void apply(const TensorView& x, const TensorView* bias, const TensorView& out, CUstream stream) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mxjit
