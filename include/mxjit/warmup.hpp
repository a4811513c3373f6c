// Ahead-of-time compilation: fill the kernel caches for the layers an engine will run, before serving
// (e.g. before capturing CUDA graphs), so no request ever waits for NVRTC.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mxjit/types.hpp"

namespace mxjit {

// One linear layer as the engine shards it: out[M, n] = x[M, k] . W[n, k]^T.
struct LinearShape {
  std::string name;  // for reports, e.g. "mlp.down_proj"
  std::int64_t n = 0, k = 0;
};

struct WarmupEvent {
  std::size_t done = 0, total = 0;
  std::string kernel;  // the specialization, human-readable
  bool compiled = false;  // false: a memory or disk cache hit
  double milliseconds = 0;
  std::string error;  // empty on success
};

struct WarmupSummary {
  std::size_t kernels = 0, compiled = 0, failed = 0;
  double wall_ms = 0;
};

// Compiles (or finds cached) every kernel Mxfp8Linear::apply would launch for these layers, at these
// token counts, with activations of `dtype`, for `arch` ("sm_90a"; empty: the current GPU). Checks
// each shape first (k % 32 == 0, sizes positive) and throws Error(invalid_argument) naming the layer.
// `jobs` compiles run in parallel; `progress` is called once per kernel.
WarmupSummary warmup_linear_layers(const std::vector<LinearShape>& layers, const std::vector<std::int64_t>& tokens,
                                   DType dtype, const std::string& arch, int jobs,
                                   const std::function<void(const WarmupEvent&)>& progress = {});

}  // namespace mxjit
