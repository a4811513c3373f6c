// The GPU tests' operands (mxfp8_operands.cpp), generated and quantized in parallel chunks of rows: the
// same as the CPU reference quantizing the whole tensor, and a function of the generator's state alone.
#include <gtest/gtest.h>

#include <random>

#include "mxfp8_operands.hpp"
#include "ops/reference/mxfp8_reference.hpp"

namespace mxjit::testing {
namespace {

TEST(Mxfp8Operands, ChunkedRandomOperandMatchesTheWholeTensorReference) {
  const std::int64_t rows = 9001, cols = 288;  // several chunks of ~1M elements, the last one short
  std::mt19937_64 rng(7), same(7);
  const Mxfp8Operand op = Mxfp8Operand::random(rows, cols, rng);
  const Mxfp8Operand again = Mxfp8Operand::random(rows, cols, same);
  EXPECT_EQ(op.bf16, again.bf16);

  const auto whole = reference::quantize(op.bf16.data(), DType::bf16, 1, rows, cols, cols, rows * cols,
                                         ScaleLayout::linear, ScaleRule::rceil);
  EXPECT_EQ(op.q, whole.q);
  std::int64_t scale_mismatches = 0, value_mismatches = 0, zero_blocks = 0;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t b = 0; b < cols / 32; ++b) {
      const std::uint8_t s = op.scales[static_cast<std::size_t>(r * op.scale_stride + b)];
      scale_mismatches += s != whole.scales[static_cast<std::size_t>(r * (cols / 32) + b)];
      bool zero = true;
      for (std::int64_t k = 32 * b; k < 32 * b + 32; ++k) {
        const std::size_t i = static_cast<std::size_t>(r * cols + k);
        value_mismatches += op.dequantized[i] != static_cast<float>(reference::dequantize(whole, rows, cols, 0, r, k));
        zero = zero && op.bf16[i] == 0;
      }
      zero_blocks += zero;
    }
  EXPECT_EQ(scale_mismatches, 0);
  EXPECT_EQ(value_mismatches, 0);
  // Fresh data, not zeros: about one block in 64 is all zero by design.
  EXPECT_GT(zero_blocks, 0);
  EXPECT_LT(zero_blocks, rows * (cols / 32) / 16);
  // The generator moved on: the next operand differs.
  EXPECT_NE(Mxfp8Operand::random(rows, cols, rng).bf16, op.bf16);
}

}  // namespace
}  // namespace mxjit::testing
