// runtime::encode_tensor_map: the TMA rules it checks itself name the value that breaks them, with no
// driver needed. Valid maps are encoded by every wgmma_bf16 GEMM launch of the GPU tests.
#include <gtest/gtest.h>

#include <string>

#include "mxjit/error.hpp"
#include "runtime/tensor_map.hpp"

namespace mxjit {
namespace {

runtime::TmaTensor bf16_matrix(std::uint64_t base, std::uint64_t rows, std::uint64_t cols, std::uint64_t stride) {
  return {base, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, 2, {cols, rows, 1}, {stride, 0}};
}

void expect_error(const runtime::TmaTensor& t, const std::uint32_t (&box)[3], ErrorCode code, const std::string& text) {
  try {
    runtime::encode_tensor_map(t, box, CU_TENSOR_MAP_SWIZZLE_128B);
    ADD_FAILURE() << "no error; expected one containing '" << text << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code);
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(TensorMap, RulesBrokenByTheTensorAreNamed) {
  expect_error(bf16_matrix(0x1008, 64, 128, 256), {64, 64, 1}, ErrorCode::invalid_argument, "0x1008");
  expect_error(bf16_matrix(0x1000, 64, 128, 264), {64, 64, 1}, ErrorCode::invalid_argument, "264 and");
  expect_error(bf16_matrix(0x1000, 0, 128, 256), {64, 64, 1}, ErrorCode::invalid_argument, "dimension 1 of size 0");
}

TEST(TensorMap, BoxesOutsideTheHardwareLimitsAreInternalErrors) {
  expect_error(bf16_matrix(0x1000, 64, 128, 256), {64, 512, 1}, ErrorCode::internal, "[64, 512, 1]");
  expect_error(bf16_matrix(0x1000, 64, 128, 256), {4, 64, 1}, ErrorCode::internal, "[4, 64, 1]");  // 8 bytes
  expect_error(bf16_matrix(0x1000, 64, 128, 256), {64, 64, 2}, ErrorCode::internal, "[64, 64, 2]");  // rank 2
}

}  // namespace
}  // namespace mxjit
