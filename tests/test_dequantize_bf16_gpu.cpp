// The wgmma_bf16 GEMM's operand prepass (templates/mxfp8_dequantize_bf16.cuh) against the CPU: every
// bf16 bit of every row the GEMM trusts, the K order, the zero padding, which rows are flagged for the
// exact path, and the grouped GEMM's gather (rows from an index, zeros for an index outside the operand,
// nothing written past the rows in use).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "gpu_fixture.hpp"
#include "mxfp8_operands.hpp"
#include "ops/dequantize_bf16.hpp"
#include "ops/gemm.hpp"
#include "ops/reference/mxfp8_reference.hpp"
#include "test_data.hpp"

namespace mxjit::testing {
namespace {

// The CPU rule: a block needs the exact path when its scale byte is outside [10, 246] and it holds a
// non-zero element or the scale is NaN (255), or when it holds a NaN element.
bool block_needs_exact_path(const Mxfp8Operand& op, std::int64_t r, std::int64_t j) {
  const int b = op.scales[static_cast<std::size_t>(r * op.scale_stride + j)];
  bool nonzero = false, nan = false;
  for (std::int64_t k = 32 * j; k < 32 * j + 32; ++k) {
    const int magnitude = op.q[static_cast<std::size_t>(r * op.cols + k)] & 0x7F;
    nonzero |= magnitude != 0;
    nan |= magnitude == 0x7F;
  }
  return ((b < 10 || b > 246) && (b == 255 || nonzero)) || nan;
}

class DequantizeBf16Gpu : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    if (!ops::gemm_family_supported(ops::GemmFamily::wgmma_bf16, runtime::device_info(0).arch))
      GTEST_SKIP() << "the prepass serves the sm_90a GEMM only";
  }

  // Runs the prepass on `op` and checks it; returns how many rows it flagged. With `gather`, output row r
  // is op's row gather[r] (outside op: zeros), and rows from `in_use` on must stay as they were.
  std::int64_t check(const Mxfp8Operand& op, const std::vector<int>& gather = {}, int in_use = -1) {
    SCOPED_TRACE(fmt::format("rows = {}, K = {}, gathered rows = {}, in use = {}", op.rows, op.cols, gather.size(), in_use));
    const DeviceOperand d(op);
    const std::int64_t ld = ops::dequantize_bf16_row_elements(op.cols);
    EXPECT_EQ(ld % 128, 0);
    EXPECT_GE(ld, op.cols);
    const std::int64_t rows = gather.empty() ? op.rows : static_cast<std::int64_t>(gather.size());
    runtime::DeviceBuffer out(ops::dequantize_bf16_bytes(rows, op.cols)), d_gather(std::max<std::size_t>(4, gather.size() * 4)),
        d_in_use(4);
    out.fill(0xFF, stream());  // NaN bf16 and a flag of 0xFF: nothing unwritten can pass
    if (!gather.empty()) d_gather.upload(gather.data(), gather.size() * 4);
    d_in_use.upload(&in_use, 4);
    ops::dequantize_bf16(d.q_view, d.scales_view, out.get(), stream(),
                         {rows, gather.empty() ? 0 : d_gather.get(), in_use < 0 ? 0 : d_in_use.get()});
    std::vector<std::uint16_t> values(static_cast<std::size_t>(rows * ld));
    std::vector<std::uint8_t> flags(static_cast<std::size_t>(rows));
    MXJIT_CU(cuStreamSynchronize, stream());
    out.download(values.data(), values.size() * 2);
    out.download(flags.data(), flags.size(), values.size() * 2);

    std::int64_t flagged = 0, wrong = 0;
    std::string first;
    for (std::int64_t r = 0; r < rows; ++r) {
      const bool written = in_use < 0 || r < in_use;
      const std::int64_t src = gather.empty() ? r : gather[static_cast<std::size_t>(r)];
      const bool present = src >= 0 && src < op.rows;
      bool expected_flag = false;
      for (std::int64_t j = 0; present && j < op.cols / 32; ++j) expected_flag |= block_needs_exact_path(op, src, j);
      EXPECT_EQ(flags[static_cast<std::size_t>(r)], !written ? 0xFF : expected_flag ? 1 : 0) << "row " << r;
      flagged += written && expected_flag;
      if (written && expected_flag) continue;  // the GEMM does not read this row's values
      for (std::int64_t p = 0; p < ld; ++p) {
        // Position 16 j + 2 t + e + 8 u of a 64-deep chunk holds chunk offset 16 t + 4 j + u + 2 e.
        const std::int64_t c = p / 64, i = p % 64, j = i / 16, t = (i % 8) / 2, e = i % 2, u = (i % 16) / 8;
        const std::int64_t k = 64 * c + 16 * t + 4 * j + u + 2 * e;
        const std::uint16_t want =
            !written ? 0xFFFF
            : present && k < op.cols ? reference::float_to_bf16(op.dequantized[static_cast<std::size_t>(src * op.cols + k)])
                                     : 0;
        const std::uint16_t got = values[static_cast<std::size_t>(r * ld + p)];
        // Zeros compare with their sign; the value is exact in bf16 for unflagged rows.
        if (got != want && wrong++ == 0) first = fmt::format("row {} position {} (K {}): {:#06x}, want {:#06x}", r, p, k, got, want);
      }
    }
    EXPECT_EQ(wrong, 0) << "first: " << first;
    return flagged;
  }
};

TEST_F(DequantizeBf16Gpu, RandomRowsAreBitExactInTheGemmsOrder) {
  std::mt19937_64 rng(fresh_seed());
  for (auto [rows, k] : {std::pair<std::int64_t, std::int64_t>{1, 32}, {3, 96}, {7, 160}, {130, 4096}, {33, 4096 + 32},
                         {2, 14336}})
    EXPECT_EQ(check(Mxfp8Operand::random(rows, k, rng)), 0);
}

// The grouped GEMM's order: rows gathered by an index (repeats, any order, indices outside the operand
// read zeros), and the rows past the ones in use left alone.
TEST_F(DequantizeBf16Gpu, GatheredRowsInGroupOrder) {
  std::mt19937_64 rng(fresh_seed());
  const Mxfp8Operand op = Mxfp8Operand::random(9, 4096 + 32, rng);
  const std::vector<int> gather = {3, 0, 8, 3, -1, 9, 1000, 5, 5, 2, 7, 1};
  EXPECT_EQ(check(op, gather), 0);
  EXPECT_EQ(check(op, gather, 7), 0);
  EXPECT_EQ(check(op, gather, 0), 0);
}

// Blocks the fast range cannot take flag their row, and only theirs; zero blocks under any scale byte
// and negative zeros stay on the fast path.
TEST_F(DequantizeBf16Gpu, EdgeBlocksFlagTheirRowsOnly) {
  std::mt19937_64 rng(fresh_seed());
  Mxfp8Operand op = Mxfp8Operand::random(12, 256, rng);
  auto set = [&](std::int64_t r, std::int64_t j, std::uint8_t scale, int zero_or_byte) {
    op.scales[static_cast<std::size_t>(r * op.scale_stride + j)] = scale;
    for (std::int64_t k = 32 * j; k < 32 * j + 32; ++k) {
      std::uint8_t& q = op.q[static_cast<std::size_t>(r * op.cols + k)];
      if (zero_or_byte >= 0) q = static_cast<std::uint8_t>(zero_or_byte);
      op.dequantized[static_cast<std::size_t>(r * op.cols + k)] =
          static_cast<float>(reference::e4m3_to_float(q) * reference::e8m0_to_double(scale));
    }
  };
  set(0, 1, 9, -1);     // tiny values: flagged
  set(1, 2, 247, -1);   // values past bf16's range: flagged
  set(2, 3, 255, 0);    // NaN scale over zeros: flagged
  set(3, 4, 0, 0x80);   // negative zeros under scale byte 0: fast
  set(4, 5, 250, 0);    // zeros under a huge scale: fast
  set(5, 6, 10, -1);    // the range's ends and the second multiplier's first step: fast
  set(6, 7, 246, -1);
  set(8, 2, 134, -1);
  set(9, 3, 135, -1);
  set(10, 4, 200, -1);
  set(7, 0, 120, -1);
  op.q[static_cast<std::size_t>(7 * op.cols + 3)] = 0xFF;  // a NaN element: flagged
  EXPECT_EQ(check(op), 4);
}

}  // namespace
}  // namespace mxjit::testing
