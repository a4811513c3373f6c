// The CPU reference of MXFP8 (design.md 1-3), the oracle every kernel is checked against bit for bit.
//
// Written independently of the device code on purpose: scale exponents come from frexp, e4m3 rounding
// from a search of the sorted table of representable values, the swizzle from the view/transpose
// formulation. Shared by the tests, the benchmarks' correctness checks and the tools.
#pragma once

#include <cstdint>
#include <vector>

#include "mxjit/types.hpp"

namespace mxjit::reference {

float bf16_to_float(std::uint16_t bits);
std::uint16_t float_to_bf16(float value);  // round to nearest even; NaN stays NaN
float fp16_to_float(std::uint16_t bits);
std::uint16_t float_to_fp16(float value);  // round to nearest even, overflow to Inf
float e4m3_to_float(std::uint8_t bits);    // 0x7F/0xFF are NaN
// Round to nearest even, saturating to +-448 (Inf too); NaN -> 0x7F; keeps the sign of zeros.
std::uint8_t double_to_e4m3_satfinite(double value);
double e8m0_to_double(std::uint8_t bits);  // 2^(b-127); NaN for 255

// e8m0 byte for a block of 32 values (NaN anywhere: 255; Inf: 254; all zero: 0).
std::uint8_t block_scale(const float* x, ScaleRule rule);
// Quantizes 32 values with scale byte b (see design.md 2 for b = 0 and NaN blocks).
void quantize_block(const float* x, std::uint8_t b, ScaleRule rule, std::uint8_t* q);

// Scale byte offset of (r, c) inside one swizzled [round_up(R,128), round_up(S,4)] matrix.
std::uint64_t swizzled_scale_offset(std::int64_t r, std::int64_t c, std::int64_t scale_cols);

struct Mxfp8Tensor {
  std::vector<std::uint8_t> q;       // [B, R, K]
  std::vector<std::uint8_t> scales;  // linear [B, R, K/32] or swizzled (per batch, padding 0)
};

// `input` holds 16-bit bf16 or fp16 values of a [B, R, K] tensor with the given strides (elements).
Mxfp8Tensor quantize(const std::uint16_t* input, DType dtype, std::int64_t batches, std::int64_t rows,
                     std::int64_t cols, std::int64_t row_stride, std::int64_t batch_stride, ScaleLayout layout,
                     ScaleRule rule);

// Dequantized value of element (b, r, k) of a linear-layout Mxfp8Tensor.
double dequantize(const Mxfp8Tensor& t, std::int64_t rows, std::int64_t cols, std::int64_t b, std::int64_t r,
                  std::int64_t k);

// One GEMM output element against the fp64 reference dot(x, w) (+ bias) over k, with design.md 4's
// bound 2^-7 |ref| + 2^magnitude_exponent sum|x w| plus the output format's subnormal rounding floor;
// ratio = |got - ref| / bound (<= 1 passes; overflow to a correctly signed Inf counts as exact).
struct ElementCheck {
  double ratio = 0, ref = 0, bound = 0, got = 0;
};
ElementCheck check_gemm_element(const float* x, const float* w, std::int64_t k, const double* bias, double got,
                                DType out_dtype, int magnitude_exponent = -16);

}  // namespace mxjit::reference
