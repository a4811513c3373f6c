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

// The grouped GEMM tile (an index into grouped_gemm_tiles) apply uses for T tokens on weights of `n`
// rows per expert ([E_local, n, K]: n = 2I for W13, n = H for W2) on a chip of `sm_count` SMs. The
// heuristic weighs the typical rows per expert above; the rest (the experts with work, min(E_local,
// ceil(T * top_k / typical)), n and the SMs) is what it may also weigh, so that apply and warmup (which
// tries every SM count when it does not know the GPU) stay right when it does.
inline int moe_grouped_gemm_tile(std::int64_t tokens, std::int64_t top_k, std::int64_t local_experts,
                                 std::int64_t global_experts, std::int64_t n, int sm_count) {
  static_cast<void>(local_experts);
  static_cast<void>(n);
  static_cast<void>(sm_count);
  return grouped_gemm_tile_for(moe_typical_rows(tokens, top_k, global_experts));
}

}  // namespace mxjit::ops
