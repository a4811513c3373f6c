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

// One Mixture-of-Experts layer (Mxfp8MoE) as one rank holds it.
struct MoeShape {
  std::string name;                 // for reports and errors, e.g. "mlp.experts"
  std::int64_t experts = 0;         // on this rank (Mxfp8MoE's num_experts)
  std::int64_t global_experts = 0;  // of the whole model (router columns); 0 = experts (no expert parallelism)
  std::int64_t hidden = 0;          // H
  std::int64_t intermediate = 0;    // I per tensor-parallel partition
  std::int64_t top_k = 0;
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

// Compiles (or finds cached), in one parallel batch, every kernel Mxfp8Linear::apply and Mxfp8MoE::apply
// (with its default options: RCEIL scales) would launch for these layers at these token counts (T),
// with activations of `dtype`, for `arch` ("sm_90a"; empty: the current GPU). For a linear layer: the
// quantize, the GEMM tile of each T and what its launch adds (the operand prepass of sm_90a's bf16
// tiles, the split-K sum); where the tile of a mid-size T depends on the GPU's SM count, the tiles for
// every Hopper part's. For a MoE layer: the quantize of x, routing for f32 logits and for logits of
// `dtype`, the grouping, the grouped GEMM tile of each of the two GEMMs at each T (with its prepass), the
// SiLU-mul quantize and the combine. So the kernels depend only on `arch` and the shapes: no GPU is
// needed to know them. Compiles run in this process (the `mxjit warmup` tool isolates each in a child
// process instead). Shapes are checked first and Error(invalid_argument) names the layer: a linear layer as below; a
// MoE layer as Mxfp8MoE's constructor does (H and I positive multiples of 32, 1 to 1024 local experts,
// global experts within [local, 512], top_k within [1, min(global, 32)], T * top_k < 2^30). Kernels
// shared by several layers or token counts are built once; `progress` is called once per kernel.
WarmupSummary warmup_layers(const std::vector<LinearShape>& linear, const std::vector<MoeShape>& moe,
                            const std::vector<std::int64_t>& tokens, DType dtype, const std::string& arch, int jobs,
                            const std::function<void(const WarmupEvent&)>& progress = {});

// warmup_layers for linear layers alone: every kernel Mxfp8Linear::apply would launch for these layers,
// at these token counts. Checks each shape first (k % 32 == 0, sizes positive) and throws
// Error(invalid_argument) naming the layer. `jobs` compiles run in parallel.
WarmupSummary warmup_linear_layers(const std::vector<LinearShape>& layers, const std::vector<std::int64_t>& tokens,
                                   DType dtype, const std::string& arch, int jobs,
                                   const std::function<void(const WarmupEvent&)>& progress = {});

}  // namespace mxjit
