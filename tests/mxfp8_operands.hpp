// Random MXFP8 GEMM operands built on the CPU with the reference quantizer, kept both as the bytes the
// GPU reads (scale rows padded to 4 bytes) and as exact dequantized floats for the fp64 reference.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <random>
#include <vector>

#include "mxjit/types.hpp"
#include "ops/reference/mxfp8_reference.hpp"
#include "runtime/device.hpp"

namespace mxjit::testing {

struct Mxfp8Operand {
  std::int64_t rows = 0, cols = 0, scale_stride = 0;
  std::vector<std::uint16_t> bf16;   // the high-precision source (bf16 or fp16 bits), [rows, cols]
  std::vector<std::uint8_t> q;       // [rows, cols] e4m3
  std::vector<std::uint8_t> scales;  // [rows, scale_stride] e8m0, padding 0
  std::vector<float> dequantized;    // [rows, cols], exact

  // Gaussian blocks whose magnitudes spread over 2^-8..2^3, a few all-zero blocks.
  static Mxfp8Operand random(std::int64_t rows, std::int64_t cols, std::mt19937_64& rng);
  // Quantizes given 16-bit values (RCEIL, linear scales) with the CPU reference.
  static Mxfp8Operand from_values(DType dtype, std::vector<std::uint16_t> values, std::int64_t rows, std::int64_t cols);
};

// Max over checked elements of |out - ref| / (2^-7 |ref| + 2^e sum|a b|): <= 1 passes design.md's bound
// (e = magnitude_exponent, -16 there).
// Checks every element when rows*cols is small, else `samples` random ones plus the corners.
struct GemmCheck {
  double worst_ratio = 0;
  std::int64_t checked = 0, failures = 0;
  std::string first_failure;
};
using reference::ElementCheck;
using reference::check_gemm_element;
// Runs element(i) for i < count over the host's cores and merges; name(i) labels the first failure.
GemmCheck check_elements(std::size_t count, const std::function<ElementCheck(std::size_t)>& element,
                         const std::function<std::string(std::size_t)>& name);

GemmCheck check_gemm(const Mxfp8Operand& a, const Mxfp8Operand& b, const std::vector<std::uint16_t>& out,
                     DType out_dtype, const std::vector<std::uint16_t>* bias, std::mt19937_64& rng,
                     std::int64_t samples = 20000, int magnitude_exponent = -16);

double to_double(DType dtype, std::uint16_t bits);

// An operand in device memory, as the GEMM kernels read it.
struct DeviceOperand {
  runtime::DeviceBuffer q, scales;
  TensorView q_view, scales_view;
  explicit DeviceOperand(const Mxfp8Operand& op);
};

}  // namespace mxjit::testing
