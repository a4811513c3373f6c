// MXFP8 numerics on the device: e4m3 conversion and e8m0 scale selection (design.md 2).
// No CUDA toolkit headers: conversions go through PTX, so NVRTC needs nothing but these files.
#pragma once

namespace mxjit {

enum ScaleRuleId { kRuleRceil = 0, kRuleFloor = 1 };

// 16-bit element types. Their bits order magnitudes as unsigned integers (NaN above Inf).
struct Bf16 {
  static constexpr unsigned int inf_bits = 0x7F80u;
  __device__ static float to_float(unsigned int bits) { return __uint_as_float(bits << 16); }
  __device__ static unsigned short from_float(float f) {  // round to nearest even
    unsigned short h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
  }
};
struct Fp16 {
  static constexpr unsigned int inf_bits = 0x7C00u;
  __device__ static float to_float(unsigned int bits) {
    float f;
    asm("{ .reg .b16 h; mov.b16 h, %1; cvt.f32.f16 %0, h; }" : "=f"(f) : "h"(static_cast<unsigned short>(bits)));
    return f;
  }
  __device__ static unsigned short from_float(float f) {  // round to nearest even, overflow to Inf
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
  }
};

// Two floats -> two e4m3 bytes (round to nearest even, saturating to +-448; NaN stays NaN).
// `lo` lands in the low byte.
__device__ __forceinline__ unsigned int pack_e4m3x2(float lo, float hi) {
  unsigned short packed;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(packed) : "f"(hi), "f"(lo));
  return packed;
}

// e8m0 byte of a block from its largest |x| given as fp32 bits (finite; NaN/Inf handled by caller).
template <int Rule>
__device__ __forceinline__ unsigned int scale_exponent(unsigned int amax_bits) {
  if (Rule == kRuleRceil) {
    // b = 127 + ceil(log2(amax / 448)), read off the bits of the correctly rounded quotient.
    const unsigned int s = __float_as_uint(__fdiv_rn(__uint_as_float(amax_bits), 448.0f));
    const unsigned int e = s >> 23, m = s & 0x7FFFFFu;
    const unsigned int b = e == 0 ? (m > 0x400000u ? 1u : 0u) : e + (m != 0 ? 1u : 0u);
    return b < 254u ? b : 254u;
  } else {
    // b = 127 + floor(log2(amax)) - 8, clamped at 0 (fp32 subnormal amax has exponent bits 0).
    const unsigned int e = amax_bits >> 23;
    return e > 8u ? e - 8u : 0u;
  }
}

// The exact fp32 multiplier 2^(127-b) that maps a block into e4m3 range.
template <int Rule>
__device__ __forceinline__ float inverse_scale(unsigned int b) {
  if (Rule == kRuleRceil && b == 0) return 0.0f;  // RCEIL convention: a 2^-127 scale zeroes the block
  if (b == 254) return __uint_as_float(0x00400000u);  // 2^-127 is an fp32 subnormal: build it exactly
  return __uint_as_float((254u - b) << 23);
}

}  // namespace mxjit
