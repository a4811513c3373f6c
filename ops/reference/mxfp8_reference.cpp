#include "ops/reference/mxfp8_reference.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "mxjit/error.hpp"

namespace mxjit::reference {
namespace {

constexpr double e4m3_max = 448.0;

// The 127 non-negative finite e4m3 values, ascending; index == code.
const std::array<double, 127>& e4m3_table() {
  static const std::array<double, 127> table = [] {
    std::array<double, 127> t{};
    for (int code = 0; code < 127; ++code) t[code] = e4m3_to_float(static_cast<std::uint8_t>(code));
    return t;
  }();
  return table;
}

std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

}  // namespace

float bf16_to_float(std::uint16_t bits) { return std::bit_cast<float>(std::uint32_t{bits} << 16); }

std::uint16_t float_to_bf16(float value) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(value);
  if (std::isnan(value)) return static_cast<std::uint16_t>((u >> 16) | 0x40);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<std::uint16_t>(u >> 16);
}

float fp16_to_float(std::uint16_t bits) {
  const int sign = bits >> 15, exp = (bits >> 10) & 0x1F, man = bits & 0x3FF;
  double v;
  if (exp == 0x1F) v = man ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else if (exp == 0) v = std::ldexp(man, -24);
  else v = std::ldexp(1024 + man, exp - 25);
  return static_cast<float>(sign ? -v : v);
}

std::uint16_t float_to_fp16(float value) {
  // Search over the 0x7C00 finite magnitudes would be slow; round by hand through double.
  const std::uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  double a = std::fabs(static_cast<double>(value));
  if (std::isnan(value)) return 0x7E00;
  if (a >= 65520.0) return sign | 0x7C00;  // 65520 is the tie above the largest finite (65504)
  int e;
  std::frexp(a, &e);                         // a = f * 2^e, f in [0.5, 1)
  const int quantum_exp = std::max(e - 11, -24);  // 11 significant bits; subnormal step 2^-24
  const double q = std::nearbyint(std::ldexp(a, -quantum_exp));  // default rounding mode: ties to even
  const double r = std::ldexp(q, quantum_exp);
  if (r == 0) return sign;
  int re;
  std::frexp(r, &re);
  if (re - 1 < -14) return sign | static_cast<std::uint16_t>(std::ldexp(r, 24));  // subnormal
  const int exp_field = re - 1 + 15;
  const int man = static_cast<int>(std::ldexp(r, -(re - 1)) * 1024) - 1024;
  return sign | static_cast<std::uint16_t>(exp_field << 10 | man);
}

float e4m3_to_float(std::uint8_t bits) {
  const int sign = bits >> 7, exp = (bits >> 3) & 0xF, man = bits & 7;
  if (exp == 0xF && man == 7) return std::numeric_limits<float>::quiet_NaN();
  const double v = exp == 0 ? std::ldexp(man, -9) : std::ldexp(8 + man, exp - 10);
  return static_cast<float>(sign ? -v : v);
}

std::uint8_t double_to_e4m3_satfinite(double value) {
  if (std::isnan(value)) return 0x7F;
  const std::uint8_t sign = std::signbit(value) ? 0x80 : 0;
  const double a = std::fabs(value);
  if (a >= e4m3_max) return sign | 0x7E;
  const auto& t = e4m3_table();
  const auto above = std::upper_bound(t.begin(), t.end(), a);  // first value > a (exists: a < 448)
  const int hi = static_cast<int>(above - t.begin()), lo = hi - 1;
  const double down = a - t[lo], up = t[hi] - a;
  int code = down < up ? lo : up < down ? hi : (lo % 2 == 0 ? lo : hi);  // ties to the even code
  return sign | static_cast<std::uint8_t>(code);
}

double e8m0_to_double(std::uint8_t bits) {
  return bits == 255 ? std::numeric_limits<double>::quiet_NaN() : std::ldexp(1.0, bits - 127);
}

std::uint8_t block_scale(const float* x, ScaleRule rule) {
  bool nan = false, inf = false;
  float amax = 0;
  for (int i = 0; i < 32; ++i) {
    nan = nan || std::isnan(x[i]);
    inf = inf || std::isinf(x[i]);
    if (!std::isnan(x[i])) amax = std::max(amax, std::fabs(x[i]));
  }
  if (nan) return 255;
  if (inf) return 254;
  if (amax == 0) return 0;
  int e;
  if (rule == ScaleRule::rceil) {
    const float s = amax / 448.0f;  // fp32, round to nearest
    if (s == 0) return 0;
    const double f = std::frexp(static_cast<double>(s), &e);  // s = f * 2^e, f in [0.5, 1)
    const int ceil_log2 = f == 0.5 ? e - 1 : e;
    return static_cast<std::uint8_t>(std::clamp(127 + ceil_log2, 0, 254));
  }
  std::frexp(static_cast<double>(amax), &e);
  return static_cast<std::uint8_t>(std::clamp(127 + (e - 1) - 8, 0, 254));
}

void quantize_block(const float* x, std::uint8_t b, ScaleRule rule, std::uint8_t* q) {
  for (int i = 0; i < 32; ++i) {
    if (b == 255) {
      q[i] = 0x7F;
      continue;
    }
    // RCEIL (FlashInfer convention): a scale byte of 0 zeroes the block, keeping each sign.
    const double k = (rule == ScaleRule::rceil && b == 0) ? 0.0 : std::ldexp(1.0, 127 - b);
    q[i] = double_to_e4m3_satfinite(static_cast<double>(x[i]) * k);
  }
}

std::uint64_t swizzled_scale_offset(std::int64_t r, std::int64_t c, std::int64_t scale_cols) {
  // The padded [Rp, Sp] matrix viewed as [Rp/128, 4, 32, Sp/4, 4], dims 1 and 3 swapped, flattened.
  const std::int64_t k_tiles = round_up(scale_cols, 4) / 4;
  const std::int64_t m_tile = r / 128, r4 = (r % 128) / 32, r32 = r % 32, k_tile = c / 4, c4 = c % 4;
  return static_cast<std::uint64_t>((((m_tile * k_tiles + k_tile) * 32 + r32) * 4 + r4) * 4 + c4);
}

Mxfp8Tensor quantize(const std::uint16_t* input, DType dtype, std::int64_t batches, std::int64_t rows,
                     std::int64_t cols, std::int64_t row_stride, std::int64_t batch_stride, ScaleLayout layout,
                     ScaleRule rule) {
  if (cols % 32 != 0) throw Error(ErrorCode::invalid_argument, fmt::format("reference: K = {} % 32 != 0", cols));
  if (dtype != DType::bf16 && dtype != DType::fp16)
    throw Error(ErrorCode::invalid_argument, "reference: input must be bf16 or fp16");
  const std::int64_t scale_cols = cols / 32;
  const std::int64_t batch_scale =
      layout == ScaleLayout::linear ? rows * scale_cols : round_up(rows, 128) * round_up(scale_cols, 4);
  Mxfp8Tensor out;
  out.q.resize(static_cast<std::size_t>(batches * rows * cols));
  out.scales.assign(static_cast<std::size_t>(batches * batch_scale), 0);
  float block[32];
  for (std::int64_t b = 0; b < batches; ++b)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < scale_cols; ++c) {
        const std::uint16_t* src = input + b * batch_stride + r * row_stride + c * 32;
        for (int i = 0; i < 32; ++i) block[i] = dtype == DType::bf16 ? bf16_to_float(src[i]) : fp16_to_float(src[i]);
        const std::uint8_t s = block_scale(block, rule);
        quantize_block(block, s, rule, &out.q[static_cast<std::size_t>((b * rows + r) * cols + c * 32)]);
        const std::uint64_t at = layout == ScaleLayout::linear ? static_cast<std::uint64_t>(r * scale_cols + c)
                                                              : swizzled_scale_offset(r, c, scale_cols);
        out.scales[static_cast<std::size_t>(b * batch_scale) + at] = s;
      }
  return out;
}

double dequantize(const Mxfp8Tensor& t, std::int64_t rows, std::int64_t cols, std::int64_t b, std::int64_t r,
                  std::int64_t k) {
  const std::size_t i = static_cast<std::size_t>((b * rows + r) * cols + k);
  const std::uint8_t s = t.scales[static_cast<std::size_t>((b * rows + r) * (cols / 32) + k / 32)];
  return static_cast<double>(e4m3_to_float(t.q[i])) * e8m0_to_double(s);
}

ElementCheck check_gemm_element(const float* x, const float* w, std::int64_t k, const double* bias, double got,
                                DType out_dtype, int magnitude_exponent) {
  double ref = 0, magnitude = 0;
  for (std::int64_t i = 0; i < k; ++i) {
    const double p = static_cast<double>(x[i]) * w[i];
    ref += p;
    magnitude += std::fabs(p);
  }
  if (bias) {
    ref += *bias;
    magnitude += std::fabs(*bias);
  }
  // design.md's bound, plus the output format's absolute rounding floor (half its smallest subnormal),
  // which the relative term cannot cover for outputs in the subnormal range (fp16 below 2^-14).
  const double subnormal_floor = out_dtype == DType::fp16 ? std::ldexp(1.0, -25) : std::ldexp(1.0, -134);
  const double bound = std::ldexp(std::fabs(ref), -7) + std::ldexp(magnitude, magnitude_exponent) + subnormal_floor;
  // Values at or past the rounding threshold above the largest finite output overflow to +-Inf:
  // that is the correctly rounded result (fp16: 65520 rounds to Inf).
  const double overflow_at = out_dtype == DType::fp16 ? 65520.0 : 0x1.FF8p127;
  const bool overflow_ok = std::isinf(got) && std::signbit(got) == std::signbit(ref) && std::fabs(ref) + bound >= overflow_at;
  const double ratio = overflow_ok ? 0.0 : std::isfinite(got) ? std::fabs(got - ref) / (bound > 0 ? bound : 1e-300) : INFINITY;
  return {ratio, ref, bound, got};
}

}  // namespace mxjit::reference
