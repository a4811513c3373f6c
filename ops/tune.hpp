// Internal side of mxjit::tune_gemm: one (M, N, K, out) measured over a list of candidate tiles.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "ops/gemm.hpp"

namespace mxjit::ops {

// The tiles tuning tries for M tokens: every tile of `families` that can hold M (a swap_ab tile holds at
// most bn tokens), the tuning-only ones (max_tokens == 0) included.
std::vector<int> gemm_tune_candidates(GemmFamilies families, std::int64_t m);

struct CandidateResult {
  int tile = -1;
  double microseconds = std::numeric_limits<double>::infinity();  // the median; +inf when it failed
  std::string error;                                               // why it failed
};

// Runs the heuristic tile (gemm_tile_for) on random operands for the reference output, then each of
// `candidates` (indices into gemm_tiles, in order; any value is allowed: one that is not a valid tile
// for these families and M fails like a wrong or crashing kernel) on the current context and `stream`:
// checked against the reference, then timed within `budget_ms` / candidates.size() each.
// `on_result` is called after each candidate. Throws Error when the reference itself cannot be made.
std::vector<CandidateResult> tune_gemm_shape(GemmFamilies families, std::int64_t m, std::int64_t n, std::int64_t k,
                                             DType out, const std::vector<int>& candidates, double budget_ms,
                                             CUstream stream,
                                             const std::function<void(const CandidateResult&)>& on_result = {});

}  // namespace mxjit::ops
