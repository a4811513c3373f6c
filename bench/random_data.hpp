// Random device data for benchmarks (never zeros: tensor cores run faster on zeros than on real data).
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>

#include "mxjit/types.hpp"
#include "runtime/device.hpp"

namespace mxjit::bench {

// Random device bytes: e4m3 without NaN codes, or e8m0 scales near 2^0.
runtime::DeviceBuffer random_bytes(std::size_t count, bool scales, std::mt19937& rng);
// `count` Gaussian bf16 values (a 2M-value pattern repeated: generation stays fast for GB-sized weights).
runtime::DeviceBuffer random_bf16(std::size_t count, std::mt19937& rng);
// [rows, k/32] e8m0 scales with rows padded to 4 bytes, as the GEMMs read them.
TensorView scale_view(std::uint64_t ptr, std::int64_t rows, std::int64_t k);

}  // namespace mxjit::bench
