// Mxfp8Linear's create_weights checks, which run before any device memory is touched.
#include <gtest/gtest.h>

#include <string>

#include "mxjit/linear.hpp"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

using mxjit::testing::error_message;

TEST(LinearCreateWeights, RejectsKNotDivisibleBy32WithVllmsMessage) {
  const std::string what = error_message(ErrorCode::invalid_argument, [] { Mxfp8Linear(48, {64}, 48, 64, DType::bf16); });
  EXPECT_NE(what.find("MXFP8 requires input_size_per_partition (K) to be divisible by 32"), std::string::npos) << what;
  EXPECT_NE(what.find("48"), std::string::npos) << what;
}

TEST(LinearCreateWeights, RejectsBadSizesAndDtypes) {
  EXPECT_NE(error_message(ErrorCode::invalid_argument, [] { Mxfp8Linear(64, {}, 64, 64, DType::bf16); }).find("output_partition_sizes is empty"),
            std::string::npos);
  EXPECT_NE(error_message(ErrorCode::invalid_argument, [] { Mxfp8Linear(64, {32, 0}, 64, 64, DType::bf16); }).find("partition size 0"),
            std::string::npos);
  EXPECT_NE(error_message(ErrorCode::invalid_argument, [] { Mxfp8Linear(64, {32}, 32, 64, DType::bf16); }).find("input_size 32"), std::string::npos);
  EXPECT_NE(error_message(ErrorCode::invalid_argument, [] { Mxfp8Linear(64, {32, 64}, 64, 64, DType::bf16); }).find("sum(output_partition_sizes) = 96"),
            std::string::npos);
  EXPECT_NE(error_message(ErrorCode::invalid_argument, [] { Mxfp8Linear(64, {32}, 64, 64, DType::f32); }).find("bf16 or fp16, got f32"),
            std::string::npos);
  EXPECT_NE(error_message(ErrorCode::invalid_argument, [] { Mxfp8Linear(64, {32}, 64, 64, DType::bf16, {.max_tokens = 0}); }).find("max_tokens"),
            std::string::npos);
}

}  // namespace
}  // namespace mxjit
