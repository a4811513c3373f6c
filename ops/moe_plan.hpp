// How Mxfp8MoE::apply sizes its grouped GEMMs for T tokens. One definition, used by apply (ops/moe.cpp)
// and by warmup (ops/warmup.cpp), so that warmup compiles exactly the tiles apply loads.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "ops/grouped_gemm.hpp"

namespace mxjit::ops {

// What the tile choice needs of a MoE layer: experts on this rank of global_experts in the model, H, the
// intermediate size I per partition, and the experts per token.
struct MoeDims {
  std::int64_t experts, global_experts, hidden, inter, top_k;
};

// The rows an expert with work is expected to get: the T * top_k (token, slot) pairs spread evenly over
// the model's experts (all ranks' under expert parallelism), at least 1.
inline std::int64_t moe_typical_rows(std::int64_t tokens, std::int64_t top_k, std::int64_t global_experts) {
  return std::max<std::int64_t>(1, tokens * top_k / global_experts);
}

// The expert weight bytes (W13 and W2, fp8) T tokens are expected to touch on this rank when routing is
// uniform: an expert is missed by a token with probability 1 - top_k / global_experts.
inline std::int64_t moe_expected_touched_bytes(const MoeDims& d, std::int64_t tokens) {
  const double missed = std::pow(1.0 - static_cast<double>(d.top_k) / static_cast<double>(d.global_experts),
                                 static_cast<double>(tokens));
  return static_cast<std::int64_t>(static_cast<double>(d.experts) * (1.0 - missed) * 3.0 *
                                   static_cast<double>(d.hidden) * static_cast<double>(d.inter));
}

// The grouped GEMM tile (an index into grouped_gemm_tiles) apply uses for both GEMMs at T tokens on
// `arch`: by the typical rows per expert and the expected touched bytes, so warmup knows it without
// asking the GPU.
inline int moe_grouped_gemm_tile(const MoeDims& d, std::int64_t tokens, const jit::Arch& arch) {
  return grouped_gemm_tile_for(GemmFamilies::dispatched(arch), moe_typical_rows(tokens, d.top_k, d.global_experts),
                               moe_expected_touched_bytes(d, tokens));
}

}  // namespace mxjit::ops
