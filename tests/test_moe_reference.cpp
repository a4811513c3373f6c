// The CPU references of the MoE auxiliary kernels against hand-worked values. The GPU tests compare
// the kernels with these references, so the cases here are worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "ops/reference/moe_reference.hpp"
#include "tests/test_support.hpp"

namespace mxjit::reference {
namespace {

constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_f = std::numeric_limits<float>::infinity();

TEST(MoeReference, RouteTopkRanksByLogitAndNormalizes) {
  // p = {0.1, 0.2, 0.3, 0.4} up to the rounding of the logs.
  const float x[4] = {std::log(1.f), std::log(2.f), std::log(3.f), std::log(4.f)};
  const TopK plain = route_topk(x, 1, 4, 4, 3, false);
  EXPECT_EQ(plain.ids, (std::vector<std::int32_t>{3, 2, 1}));
  EXPECT_NEAR(plain.weights[0], 0.4, 1e-6);
  EXPECT_NEAR(plain.weights[1], 0.3, 1e-6);
  EXPECT_NEAR(plain.weights[2], 0.2, 1e-6);
  const TopK renormalized = route_topk(x, 1, 4, 4, 3, true);
  EXPECT_NEAR(renormalized.weights[0], 4.0 / 9, 1e-6);
  EXPECT_NEAR(renormalized.weights[1], 3.0 / 9, 1e-6);
  EXPECT_NEAR(renormalized.weights[2], 2.0 / 9, 1e-6);
}

TEST(MoeReference, RouteTopkTiesTakeTheLowerIdAndNanRanksFirst) {
  // Row 0: -0 and +0 tie (lower id first), then -1. Row 1 (stride 4, one padding value): NaN first.
  const float x[8] = {-1.f, -0.f, 0.f, 123.f, nan_f, 1.f, 2.f, 99.f};
  const TopK r = route_topk(x, 2, 3, 4, 2, false);
  EXPECT_EQ(r.ids, (std::vector<std::int32_t>{1, 2, 0, 2}));
  const float each = static_cast<float>(1 / (2 + std::exp(-1.0)));
  EXPECT_EQ(r.weights[0], each);
  EXPECT_EQ(r.weights[1], each);
  EXPECT_TRUE(std::isnan(r.weights[2]));  // softmax of a NaN row
  const float flat[4] = {5.f, 5.f, 5.f, 5.f};
  const TopK all_equal = route_topk(flat, 1, 4, 4, 4, false);
  EXPECT_EQ(all_equal.ids, (std::vector<std::int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(all_equal.weights[3], 0.25f);
  EXPECT_EQ(route_topk(flat, 1, 4, 4, 1, true).weights[0], 1.f);
}

TEST(MoeReference, LocalExpertDropsEverythingOutOfRange) {
  const std::int32_t map[6] = {-1, 0, -1, 1, 7, 2};  // global 4 maps outside 3 local experts
  EXPECT_EQ(local_expert(1, map, 6, 3), 0);
  EXPECT_EQ(local_expert(5, map, 6, 3), 2);
  EXPECT_EQ(local_expert(0, map, 6, 3), -1);
  EXPECT_EQ(local_expert(4, map, 6, 3), -1);
  EXPECT_EQ(local_expert(6, map, 6, 3), -1);
  EXPECT_EQ(local_expert(-1, map, 6, 3), -1);
  EXPECT_EQ(local_expert(2, nullptr, 0, 3), 2);
  EXPECT_EQ(local_expert(3, nullptr, 0, 3), -1);
  EXPECT_EQ(local_expert(std::numeric_limits<std::int32_t>::min(), nullptr, 0, 3), -1);
}

// T = 3 tokens, k = 2: ids 5 and -1 fall outside 3 local experts.
const std::int32_t group_ids[6] = {0, 2, 2, 1, 5, -1};

TEST(MoeReference, ExpertOffsetsCountKeptPairs) {
  EXPECT_EQ(expert_offsets(group_ids, 6, nullptr, 0, 3), (std::vector<std::int32_t>{0, 1, 2, 4}));
  const std::int32_t map[6] = {-1, 0, -1, 1, 7, 2};  // keeps ids 1 and 5 only
  EXPECT_EQ(expert_offsets(group_ids, 6, map, 6, 3), (std::vector<std::int32_t>{0, 1, 1, 2}));
  EXPECT_EQ(expert_offsets(group_ids, 0, nullptr, 0, 2), (std::vector<std::int32_t>{0, 0, 0}));
}

TEST(MoeReference, CheckGroupingAcceptsAnyRowOrderAndNamesViolations) {
  const std::vector<std::int32_t> offsets = {0, 1, 2, 4};
  // Expert 2 owns rows 2 and 3; either order of its two pairs (0,1) and (1,0) is valid.
  std::vector<std::int32_t> pair_row = {0, 3, 2, 1, -1, -1}, row_token = {0, 1, 1, 0};
  EXPECT_EQ(check_grouping(group_ids, 6, 2, nullptr, 0, 3, offsets, pair_row, row_token), "");
  EXPECT_EQ(check_grouping(group_ids, 6, 2, nullptr, 0, 3, offsets, {0, 2, 3, 1, -1, -1}, {0, 1, 0, 1}), "");

  EXPECT_CONTAINS(check_grouping(group_ids, 6, 2, nullptr, 0, 3, {0, 1, 2, 5}, pair_row, row_token),
                  "offsets[3] = 5, want 4");
  EXPECT_CONTAINS(check_grouping(group_ids, 6, 2, nullptr, 0, 3, offsets, {0, 3, 2, 1, 3, -1}, row_token),
                  "pair 4 (id 5) is dropped but has pair_row 3");
  EXPECT_CONTAINS(check_grouping(group_ids, 6, 2, nullptr, 0, 3, offsets, {0, 3, 3, 1, -1, -1}, row_token),
                  "row 3 holds two pairs");
  EXPECT_CONTAINS(check_grouping(group_ids, 6, 2, nullptr, 0, 3, offsets, {1, 3, 2, 0, -1, -1}, row_token),
                  "pair 0 of local expert 0 has row 1, outside the expert's [0, 1)");
  EXPECT_CONTAINS(check_grouping(group_ids, 6, 2, nullptr, 0, 3, offsets, pair_row, {0, 1, 0, 0}),
                  "row 2 (pair 2) has row_token 0, want token 1");
}

// The kernel's exp against exp in double: within 1 ulp from the largest results down to subnormals.
TEST(MoeReference, SiluExpIsWithinOneUlp) {
  EXPECT_EQ(silu_exp(0.f), 1.f);
  EXPECT_EQ(silu_exp(-104.f), 0.f);     // e^-104 < 2^-150: rounds to zero
  EXPECT_EQ(silu_exp(89.f), inf_f);     // above FLT_MAX
  EXPECT_EQ(silu_exp(-inf_f), 0.f);
  EXPECT_EQ(silu_exp(inf_f), inf_f);
  EXPECT_EQ(silu_exp(nan_f), 0.f);      // documented: silu turns it into NaN through x / (1 + e)
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> z(-103.9f, 88.7f);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    const float v = i < 1000 ? -103.9f + 0.1f * i : z(rng);
    const double exact = std::exp(static_cast<double>(v));
    int e;
    std::frexp(exact, &e);  // exact in [2^(e-1), 2^e)
    const double ulp = std::ldexp(1.0, std::max(e - 1, -126) - 23);
    worst = std::max(worst, std::fabs(silu_exp(v) - exact) / ulp);
  }
  EXPECT_LE(worst, 1.0) << "worst error in ulps";
}

TEST(MoeReference, SiluMulRoundsLikeVllm) {
  // silu(1) = 0.7310586 rounds to bf16 0.73046875 (0x3F3B); times 2 is exact: 1.4609375 (0x3FBB).
  EXPECT_EQ(silu_mul(0x3F80, 0x4000, DType::bf16), 0x3FBB);
  // fp16: silu(1) rounds to 0.73095703125; times 2: 1.4619140625 (0x3DD9).
  EXPECT_EQ(silu_mul(0x3C00, 0x4000, DType::fp16), 0x3DD9);
  EXPECT_EQ(silu_mul(0x0000, 0x4000, DType::bf16), 0x0000);
  EXPECT_EQ(silu_mul(float_to_bf16(-100.f), 0x3F80, DType::bf16), 0x8000);  // -100 / (1 + e^100) = -0
  EXPECT_EQ(silu_mul(float_to_bf16(100.f), 0x3F80, DType::bf16), float_to_bf16(100.f));
  EXPECT_TRUE(std::isnan(bf16_to_float(silu_mul(0xFF80, 0x3F80, DType::bf16))));  // -inf / inf
  EXPECT_TRUE(std::isnan(bf16_to_float(silu_mul(0x7F80, 0x0000, DType::bf16))));  // inf * 0
  EXPECT_EQ(silu_mul(0x7BFF, 0x4000, DType::fp16), 0x7C00);  // 65504 * 2 overflows fp16 to Inf
}

TEST(MoeReference, SiluMulQuantizeReusesQuantize) {
  // Row 0: a = 1.4609375 everywhere: RCEIL b = 127 + ceil(log2(1.4609375 / 448)) = 119, and
  // 1.4609375 * 2^8 = 374 rounds to the e4m3 value 384 (0x7C). Row 1 (after 32 padding values): zeros.
  std::vector<std::uint16_t> h(2 * 96, 0);
  for (int c = 0; c < 32; ++c) h[c] = 0x3F80, h[32 + c] = 0x4000;
  const Mxfp8Tensor a = silu_mul_quantize(h.data(), DType::bf16, 2, 32, 96, ScaleRule::rceil);
  ASSERT_EQ(a.q.size(), 64u);
  ASSERT_EQ(a.scales.size(), 2u);
  for (int c = 0; c < 32; ++c) EXPECT_EQ(a.q[c], 0x7C) << c;
  for (int c = 32; c < 64; ++c) EXPECT_EQ(a.q[c], 0x00) << c;
  EXPECT_EQ(a.scales[0], 119);
  EXPECT_EQ(a.scales[1], 0);
}

TEST(MoeReference, CombineSumsKeptSlotsInOrder) {
  const std::uint16_t y[6] = {float_to_bf16(1), float_to_bf16(2), float_to_bf16(3),
                              float_to_bf16(4), float_to_bf16(5), float_to_bf16(6)};  // [3, 2]
  // Token 0: 0.5 * y[2] + 0.25 * y[0] = [2.75, 3.5]; token 1: dropped (-1) and out of range (7): zeros.
  const std::int32_t pair_row[4] = {2, 0, -1, 7};
  const float w[4] = {0.5f, 0.25f, 1.f, 1.f};
  EXPECT_EQ(moe_combine(y, DType::bf16, 3, 2, 2, pair_row, w, 2, 2),
            (std::vector<std::uint16_t>{0x4030, 0x4060, 0x0000, 0x0000}));
}

}  // namespace
}  // namespace mxjit::reference
