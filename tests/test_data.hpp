// Random and hand-made 16-bit inputs for quantize tests. Fresh data every run (seeded from the clock,
// the seed printed on failure), never all zeros.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "mxjit/types.hpp"

namespace mxjit::testing {

enum class Distribution {
  gaussian_wide,  // gaussian per block, block magnitudes spread over many binades
  random_bits,    // every 16-bit pattern: NaN, Inf, subnormals, zeros, the extremes
  edge_blocks,    // hand-made blocks: zero, NaN, Inf, tiny, 448 neighbours, rounding ties, largest value
};

const char* to_string(Distribution d);

// Fills `count` values (count % 32 == 0) of bf16 or fp16 bits.
std::vector<std::uint16_t> make_input(DType dtype, std::size_t count, Distribution d, std::mt19937_64& rng);

std::uint64_t fresh_seed();

}  // namespace mxjit::testing
