// runtime::encode_tensor_map: the TMA rules it checks itself name the value that breaks them, with no
// driver needed. Valid maps are encoded by every TMA GEMM launch of the GPU tests; runtime::tensor_map's
// memo must hand back the driver's bytes for every argument, however many maps pass through it.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "mxjit/error.hpp"
#include "gpu_fixture.hpp"
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

using TensorMapGpu = testing::GpuTest;

bool same_bytes(const CUtensorMap& a, const CUtensorMap& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }

TEST_F(TensorMapGpu, MemoReturnsTheDriversMapForEveryArgument) {
  // 22 distinct argument sets (each differs from the first in one field), more than the memo holds:
  // walked once (misses, then evictions), then the last 12 three times over (hits).
  const std::uint32_t box[3] = {64, 64, 1};
  std::vector<std::pair<runtime::TmaTensor, CUtensorMapSwizzle>> cases;
  for (std::uint64_t i = 0; i < 6; ++i) {
    cases.push_back({bf16_matrix(0x10000 + 16 * i, 64, 128, 256), CU_TENSOR_MAP_SWIZZLE_128B});
    cases.push_back({bf16_matrix(0x10000, 64 + i, 128, 256), CU_TENSOR_MAP_SWIZZLE_128B});
    cases.push_back({bf16_matrix(0x10000, 64, 128, 256 + 16 * i), CU_TENSOR_MAP_SWIZZLE_128B});
    cases.push_back({bf16_matrix(0x10000, 64, 128 + 8 * i, 512), i % 2 ? CU_TENSOR_MAP_SWIZZLE_NONE
                                                                      : CU_TENSOR_MAP_SWIZZLE_128B});
  }
  const auto check = [&](std::size_t from, const char* walk) {
    for (std::size_t c = from; c < cases.size(); ++c) {
      const auto& [t, swizzle] = cases[c];
      ASSERT_TRUE(same_bytes(runtime::tensor_map(t, box, swizzle), runtime::encode_tensor_map(t, box, swizzle)))
          << walk << ", case " << c << ": base " << t.base << ", rows " << t.dims[1] << ", stride " << t.strides[0];
    }
  };
  check(0, "first walk");
  for (int pass = 0; pass < 3; ++pass) check(cases.size() - 12, "repeat");
  // Boxes are part of the key, and a refused tensor is refused again rather than remembered.
  const runtime::TmaTensor t = bf16_matrix(0x10000, 64, 128, 256);
  EXPECT_FALSE(same_bytes(runtime::tensor_map(t, {64, 64, 1}, CU_TENSOR_MAP_SWIZZLE_128B),
                          runtime::tensor_map(t, {64, 32, 1}, CU_TENSOR_MAP_SWIZZLE_128B)));
  for (int i = 0; i < 2; ++i)
    EXPECT_THROW(runtime::tensor_map(bf16_matrix(0x10008, 64, 128, 256), box, CU_TENSOR_MAP_SWIZZLE_128B), Error);
}

}  // namespace
}  // namespace mxjit
