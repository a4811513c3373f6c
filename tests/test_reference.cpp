// The CPU reference against hand-worked values (design.md 1-3). Everything else is checked against
// this reference, so these cases are worked out by hand, not computed by similar code.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <random>

#include "ops/reference/mxfp8_reference.hpp"

namespace mxjit::reference {
namespace {

using Block = std::array<float, 32>;

Block filled(float v) {
  Block b;
  b.fill(v);
  return b;
}

TEST(Reference, E4m3Decode) {
  EXPECT_EQ(e4m3_to_float(0x7E), 448.f);
  EXPECT_EQ(e4m3_to_float(0xFE), -448.f);
  EXPECT_EQ(e4m3_to_float(0x38), 1.f);
  EXPECT_EQ(e4m3_to_float(0x08), std::ldexp(1.f, -6));  // min normal
  EXPECT_EQ(e4m3_to_float(0x01), std::ldexp(1.f, -9));  // min subnormal
  EXPECT_EQ(e4m3_to_float(0x07), 7 * std::ldexp(1.f, -9));
  EXPECT_TRUE(std::isnan(e4m3_to_float(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3_to_float(0xFF)));
  EXPECT_TRUE(std::signbit(e4m3_to_float(0x80)));
}

TEST(Reference, E4m3EncodeRoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(double_to_e4m3_satfinite(448), 0x7E);
  EXPECT_EQ(double_to_e4m3_satfinite(464), 0x7E);  // beyond max: saturate (satfinite), not NaN
  EXPECT_EQ(double_to_e4m3_satfinite(1e30), 0x7E);
  EXPECT_EQ(double_to_e4m3_satfinite(INFINITY), 0x7E);
  EXPECT_EQ(double_to_e4m3_satfinite(-INFINITY), 0xFE);
  EXPECT_EQ(double_to_e4m3_satfinite(NAN), 0x7F);
  EXPECT_EQ(double_to_e4m3_satfinite(1.0625), 0x38);    // tie between 1 (even) and 1.125
  EXPECT_EQ(double_to_e4m3_satfinite(1.1875), 0x3A);    // tie between 1.125 and 1.25 (even)
  EXPECT_EQ(double_to_e4m3_satfinite(1.05), 0x38);
  EXPECT_EQ(double_to_e4m3_satfinite(1.07), 0x39);
  EXPECT_EQ(double_to_e4m3_satfinite(432), 0x7E);       // tie between 416 (0x7D) and 448 (0x7E, even)
  EXPECT_EQ(double_to_e4m3_satfinite(std::ldexp(1, -10)), 0x00);      // tie between 0 and 2^-9
  EXPECT_EQ(double_to_e4m3_satfinite(3 * std::ldexp(1, -10)), 0x02);  // tie between 2^-9 and 2^-8
  EXPECT_EQ(double_to_e4m3_satfinite(-0.0), 0x80);
  EXPECT_EQ(double_to_e4m3_satfinite(-1e-6), 0x80);  // negative values that round to zero keep the sign
}

TEST(Reference, Bf16AndFp16Conversions) {
  EXPECT_EQ(float_to_bf16(1.f), 0x3F80);
  EXPECT_EQ(bf16_to_float(0x7F7F), 0x1.FEp127f);
  EXPECT_EQ(float_to_bf16(1.00390625f), 0x3F80);  // tie to even
  EXPECT_EQ(float_to_fp16(1.f), 0x3C00);
  EXPECT_EQ(float_to_fp16(65504.f), 0x7BFF);
  EXPECT_EQ(float_to_fp16(70000.f), 0x7C00);
  EXPECT_EQ(float_to_fp16(std::ldexp(1.f, -24)), 0x0001);
  EXPECT_EQ(float_to_fp16(-2.5f), 0xC100);
  for (std::uint32_t bits = 0; bits < 0x7C00; bits += 7) EXPECT_EQ(float_to_fp16(fp16_to_float(bits)), bits);
}

TEST(Reference, RceilScaleBytes) {
  // b = 127 + ceil(log2(amax / 448))
  EXPECT_EQ(block_scale(filled(448).data(), ScaleRule::rceil), 127);  // amax/448 = 1
  EXPECT_EQ(block_scale(filled(449).data(), ScaleRule::rceil), 128);
  EXPECT_EQ(block_scale(filled(224).data(), ScaleRule::rceil), 126);
  EXPECT_EQ(block_scale(filled(1).data(), ScaleRule::rceil), 119);    // log2(1/448) = -8.8
  EXPECT_EQ(block_scale(filled(-3).data(), ScaleRule::rceil), 120);   // log2(3/448) = -7.2
  EXPECT_EQ(block_scale(filled(0).data(), ScaleRule::rceil), 0);
  EXPECT_EQ(block_scale(filled(0x1.FEp127f).data(), ScaleRule::rceil), 247);  // largest bf16
  // amax/448 is an fp32 subnormal: <= 2^-127 gives 0, above gives 1.
  EXPECT_EQ(block_scale(filled(448 * std::ldexp(1.f, -127)).data(), ScaleRule::rceil), 0);
  EXPECT_EQ(block_scale(filled(448 * std::ldexp(1.5f, -127)).data(), ScaleRule::rceil), 1);
  Block b = filled(1);
  b[5] = NAN;
  EXPECT_EQ(block_scale(b.data(), ScaleRule::rceil), 255);
  b[5] = -INFINITY;
  EXPECT_EQ(block_scale(b.data(), ScaleRule::rceil), 254);
  b[6] = NAN;
  EXPECT_EQ(block_scale(b.data(), ScaleRule::floor), 255);  // NaN wins over Inf
}

TEST(Reference, FloorScaleBytes) {
  // b = 127 + floor(log2(amax)) - 8
  EXPECT_EQ(block_scale(filled(448).data(), ScaleRule::floor), 127);
  EXPECT_EQ(block_scale(filled(511).data(), ScaleRule::floor), 127);
  EXPECT_EQ(block_scale(filled(512).data(), ScaleRule::floor), 128);
  EXPECT_EQ(block_scale(filled(1).data(), ScaleRule::floor), 119);
  EXPECT_EQ(block_scale(filled(std::ldexp(1.f, -125)).data(), ScaleRule::floor), 0);
  EXPECT_EQ(block_scale(filled(0).data(), ScaleRule::floor), 0);
}

TEST(Reference, QuantizeBlockElements) {
  std::uint8_t q[32];
  Block b = filled(0);
  b[0] = 957;  // FLOOR: b = 127+9-8 = 128, 957/2 = 478.5 saturates to 448 (microxcaling's example: 896)
  b[1] = -1;
  quantize_block(b.data(), block_scale(b.data(), ScaleRule::floor), ScaleRule::floor, q);
  EXPECT_EQ(q[0], 0x7E);
  EXPECT_EQ(q[1], 0xB0);  // -1/2 = -0.5: sign, exponent 6, mantissa 0
  // RCEIL keeps 957: b = 127 + ceil(log2(957/448)) = 129, 957/4 = 239.25 -> 240 (0x77)
  quantize_block(b.data(), block_scale(b.data(), ScaleRule::rceil), ScaleRule::rceil, q);
  EXPECT_EQ(block_scale(b.data(), ScaleRule::rceil), 129);
  EXPECT_EQ(q[0], 0x77);
  EXPECT_EQ(q[2], 0x00);
  // NaN block: every byte 0x7F.
  b[3] = NAN;
  quantize_block(b.data(), 255, ScaleRule::rceil, q);
  for (std::uint8_t byte : q) EXPECT_EQ(byte, 0x7F);
  // Inf block: scale 254, Inf saturates, finite values underflow to signed zero.
  b[3] = -INFINITY;
  quantize_block(b.data(), block_scale(b.data(), ScaleRule::rceil), ScaleRule::rceil, q);
  EXPECT_EQ(q[3], 0xFE);
  EXPECT_EQ(q[1], 0x80);
  // Scale byte 0 under RCEIL zeroes the block, signs kept; FLOOR multiplies by 2^127 exactly.
  Block tiny = filled(std::ldexp(1.f, -120));
  tiny[1] = -tiny[1];
  quantize_block(tiny.data(), 0, ScaleRule::rceil, q);
  EXPECT_EQ(q[0], 0x00);
  EXPECT_EQ(q[1], 0x80);
  quantize_block(tiny.data(), 0, ScaleRule::floor, q);
  EXPECT_EQ(q[0], 0x70);  // 2^7 = 128: exponent field 7 + 7 = 14, mantissa 0
  EXPECT_EQ(q[1], 0xF0);
}

TEST(Reference, RceilPlacesBlockMaximumInUpperBinade) {
  std::mt19937 rng(1234);
  std::lognormal_distribution<float> mag(0.f, 20.f);
  for (int trial = 0; trial < 2000; ++trial) {
    Block b;
    for (float& x : b) x = mag(rng) * (rng() % 2 ? 1.f : -1.f);
    float amax = 0;
    for (float x : b) amax = std::max(amax, std::fabs(x));
    const std::uint8_t s = block_scale(b.data(), ScaleRule::rceil);
    if (s == 0 || s == 254) continue;
    const double scaled = amax * std::ldexp(1.0, 127 - s);
    EXPECT_LE(scaled, 448.0 * (1 + 1e-6)) << amax;
    EXPECT_GT(scaled, 224.0 * (1 - 1e-6)) << amax;
  }
}

TEST(Reference, SwizzledOffsetsMatchTheClosedForm) {
  // design.md 3: (r/128)*(Sp/4)*512 + (c/4)*512 + (r%32)*16 + ((r%128)/32)*4 + (c%4)
  EXPECT_EQ(swizzled_scale_offset(0, 0, 8), 0u);
  EXPECT_EQ(swizzled_scale_offset(1, 0, 8), 16u);
  EXPECT_EQ(swizzled_scale_offset(32, 0, 8), 4u);
  EXPECT_EQ(swizzled_scale_offset(0, 3, 8), 3u);
  EXPECT_EQ(swizzled_scale_offset(0, 4, 8), 512u);
  EXPECT_EQ(swizzled_scale_offset(128, 0, 8), 1024u);
  EXPECT_EQ(swizzled_scale_offset(127, 5, 6), 512u + 31 * 16 + 3 * 4 + 1);
  for (std::int64_t cols : {1, 3, 4, 7, 224})
    for (std::int64_t r = 0; r < 300; r += 7)
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::int64_t sp = (cols + 3) / 4 * 4;
        const std::uint64_t closed = (r / 128) * (sp / 4) * 512 + (c / 4) * 512 + (r % 32) * 16 + ((r % 128) / 32) * 4 + (c % 4);
        ASSERT_EQ(swizzled_scale_offset(r, c, cols), closed) << r << "," << c << " of " << cols;
      }
}

TEST(Reference, QuantizeTensorLayoutsAndPadding) {
  // [2, 3, 64] bf16: row r of batch b holds the value (b*3 + r + 1) everywhere.
  std::vector<std::uint16_t> in(2 * 3 * 64);
  for (int i = 0; i < 2 * 3 * 64; ++i) in[i] = float_to_bf16(static_cast<float>(i / 64 + 1));
  const Mxfp8Tensor lin = quantize(in.data(), DType::bf16, 2, 3, 64, 64, 192, ScaleLayout::linear, ScaleRule::rceil);
  ASSERT_EQ(lin.scales.size(), 12u);
  EXPECT_EQ(lin.scales[0], 119);   // amax 1
  EXPECT_EQ(lin.scales[11], 121);  // amax 6: ceil(log2(6/448)) = ceil(-6.2) = -6
  EXPECT_EQ(dequantize(lin, 3, 64, 1, 2, 63), 6.0);
  const Mxfp8Tensor swz = quantize(in.data(), DType::bf16, 2, 3, 64, 64, 192, ScaleLayout::swizzled_128x4, ScaleRule::rceil);
  ASSERT_EQ(swz.scales.size(), 2u * 128 * 4);
  EXPECT_EQ(swz.scales[0], 119);
  EXPECT_EQ(swz.scales[1], 119);     // (r=0, c=1)
  EXPECT_EQ(swz.scales[2], 0);       // padding column
  EXPECT_EQ(swz.scales[16 * 2 + 1], 120);  // (r=2, c=1): amax 3 -> ceil(-7.2) = -7
  EXPECT_EQ(swz.scales[512 + 16 + 1], 121);  // batch 1, (r=1, c=1): amax 5 -> ceil(-6.5) = -6
  EXPECT_EQ(swz.q, lin.q);
}

}  // namespace
}  // namespace mxjit::reference
