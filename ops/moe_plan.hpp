// How Mxfp8MoE::apply sizes its grouped GEMMs for T tokens. One definition, used by apply (ops/moe.cpp)
// and by warmup (ops/warmup.cpp), so that warmup compiles exactly the tiles apply loads.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ops/grouped_gemm.hpp"

namespace mxjit::ops {

// The rows an expert with work is expected to get: the T * top_k (token, slot) pairs spread evenly over
// the model's experts (all ranks' under expert parallelism), at least 1.
inline std::int64_t moe_typical_rows(std::int64_t tokens, std::int64_t top_k, std::int64_t global_experts) {
  return std::max<std::int64_t>(1, tokens * top_k / global_experts);
}

// The grouped GEMM tile (an index into grouped_gemm_tiles) apply uses for both GEMMs at T tokens on
// `arch`: by the typical rows per expert alone, so warmup knows it without asking the GPU.
inline int moe_grouped_gemm_tile(std::int64_t tokens, std::int64_t top_k, std::int64_t global_experts,
                                 const jit::Arch& arch) {
  return grouped_gemm_tile_for(GemmFamilies::dispatched(arch), moe_typical_rows(tokens, top_k, global_experts));
}

}  // namespace mxjit::ops
