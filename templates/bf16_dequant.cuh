// e4m3 x 2^(b-127) -> bf16 in a few integer ops, exact on a known range of scale bytes; shared by the
// operand prepass (mxfp8_dequantize_bf16.cuh) and the bf16 wgmma GEMM (mxfp8_gemm_wgmma_bf16.cuh).
//
// An e4m3 byte's 7 magnitude bits placed at bf16 bits 4..10 (sign at 15) are the bf16 bits of x 2^-120
// for every byte but NaN (the 4-bit exponent field becomes bf16's, and a subnormal e4m3, field 0, the
// bf16 subnormal with the same mantissa); one mul.rn.bf16x2 by 2^(b-7) then gives x 2^(b-127) exactly.
// That needs 2^(b-7) to be a normal bf16 (b <= 134) and the result to be normal, b >= 10 (the smallest
// e4m3 subnormal 2^-9 lands on 2^-126): scale bytes in [10, 134], i.e. blocks whose largest |x| is
// below 448 x 2^7 and at least 2^-117. A second multiply by 2^(b-134) reaches b <= 246 (448 x 2^119 is
// still a finite bf16): the operand prepass, where instructions are cheap, takes that wider range, as
// activations can be large. Other blocks with a non-zero element, NaN scale bytes (255) and NaN elements
// (0x7F / 0xFF) are for the exact path; all-zero blocks are exact under any multiplier.
#pragma once

namespace mxjit {

constexpr unsigned int kBf16ScaleMin = 10, kBf16ScaleMax = 134;  // one multiply (the GEMM's weights)
constexpr unsigned int kBf16WideScaleMax = 246;                     // two multiplies (the operand prepass)

// bf16 bits of (e4m3 byte x 2^-120) for bytes 0 and 2 of w (low half first): exact except for NaN bytes.
__device__ __forceinline__ unsigned int e4m3_bytes02_to_bf16x2(unsigned int w) {
  return ((w & 0x007F007Fu) << 4) | ((w << 8) & 0x80008000u);
}
// The same for bytes 1 and 3.
__device__ __forceinline__ unsigned int e4m3_bytes13_to_bf16x2(unsigned int w) {
  return ((w >> 4) & 0x07F007F0u) | (w & 0x80008000u);
}
// Bit 7 of a byte of the result is set where that byte of w is an e4m3 NaN (magnitude 0x7F).
__device__ __forceinline__ unsigned int e4m3_nan_bits(unsigned int w) { return (w & 0x7F7F7F7Fu) + 0x01010101u; }
// 2^(min(b, 134) - 7) in both halves of a bf16x2: always a finite normal bf16.
__device__ __forceinline__ unsigned int bf16x2_scale_multiplier(unsigned int b) {
  return ((min(b, kBf16ScaleMax) + 120u) << 7) * 0x00010001u;
}
__device__ __forceinline__ unsigned int bf16x2_mul(unsigned int a, unsigned int b) {
  unsigned int d;
  asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
}
// 2^(max(b, 134) - 134) in both halves: the second multiplier of the wide range (1 for b <= 134).
__device__ __forceinline__ unsigned int bf16x2_wide_scale_multiplier(unsigned int b) {
  return ((max(min(b, kBf16WideScaleMax), kBf16ScaleMax) - 7u) << 7) * 0x00010001u;
}
template <unsigned int Max = kBf16ScaleMax>
__device__ __forceinline__ bool outside_bf16_scale_range(unsigned int b) {
  return b - kBf16ScaleMin > Max - kBf16ScaleMin;  // unsigned: also b < kBf16ScaleMin
}
// Whether a block part needs the exact path: its scale byte is outside the range [10, Max] and it holds a
// non-zero element (zeros stay zeros under the clamped multipliers), or the scale is NaN (255: the whole
// block is NaN), or it holds a NaN element. `bytes` is the or of the part's words, `nans` the or of their
// e4m3_nan_bits.
template <unsigned int Max = kBf16ScaleMax>
__device__ __forceinline__ bool block_needs_exact_path(unsigned int b, unsigned int bytes, unsigned int nans) {
  return (outside_bf16_scale_range<Max>(b) && (b == 255u || (bytes & 0x7F7F7F7Fu) != 0)) || (nans & 0x80808080u) != 0;
}

}  // namespace mxjit
