// Host side of FastDivisor (templates/mxfp8_quantize_params.cuh): precomputes the multiplier and
// shift so kernels divide by a run-time value with a multiply-high and a shift.
#pragma once

#include <cstdint>

#include "templates/mxfp8_quantize_params.cuh"

namespace mxjit::ops {

inline FastDivisor make_fast_divisor(std::uint32_t d) {
  std::uint32_t shift = 0;
  while ((std::uint64_t{1} << shift) < d) ++shift;  // ceil(log2 d)
  const std::uint64_t multiplier = ((std::uint64_t{1} << 32) * ((std::uint64_t{1} << shift) - d)) / d + 1;
  return FastDivisor{d, static_cast<std::uint32_t>(multiplier), shift};
}

// What the kernel computes; lets tests check the divisor on the host.
inline std::uint32_t fast_divide(std::uint32_t n, const FastDivisor& d) {
  const std::uint64_t hi = (std::uint64_t{n} * d.multiplier) >> 32;
  return static_cast<std::uint32_t>((hi + n) >> d.shift);
}

}  // namespace mxjit::ops
