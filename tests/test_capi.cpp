// The C API without a GPU: status codes, per-thread error messages and argument translation.
// mxjit_init is deliberately not called: the process-wide runtime is configured once, and other
// tests in this binary rely on the environment's configuration.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>

#include "mxjit/mxjit.h"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

mxjit_tensor tensor(CUdeviceptr data, mxjit_dtype dtype, std::int64_t rows, std::int64_t cols) {
  mxjit_tensor t{};
  t.data = data;
  t.dtype = dtype;
  t.ndim = 2;
  t.shape[0] = rows;
  t.shape[1] = cols;
  t.strides[0] = cols;
  t.strides[1] = 1;
  return t;
}

// A valid linear-layout call on fake, aligned device pointers: bf16 [4, K] -> e4m3 + e8m0 [4, K/32].
struct CCall {
  mxjit_tensor input, q, scales;
  int layout = MXJIT_SCALE_LINEAR, rule = MXJIT_RULE_RCEIL;  // ints: C callers may pass anything

  explicit CCall(std::int64_t k = 64)
      : input(tensor(0x10000, MXJIT_DTYPE_BF16, 4, k)),
        q(tensor(0x20000, MXJIT_DTYPE_E4M3, 4, k)),
        scales(tensor(0x30000, MXJIT_DTYPE_E8M0, 4, k / 32)) {}

  mxjit_status run(const mxjit_tensor* in, const mxjit_tensor* out, const mxjit_tensor* s) const {
    return mxjit_quantize_mxfp8(in, out, s, static_cast<mxjit_scale_layout>(layout),
                                static_cast<mxjit_scale_rule>(rule), nullptr);
  }
  mxjit_status run() const { return run(&input, &q, &scales); }
};

// `status` is an invalid-argument failure whose message contains every part.
void expect_invalid(mxjit_status status, std::initializer_list<std::string> parts) {
  EXPECT_EQ(status, MXJIT_ERROR_INVALID_ARGUMENT) << mxjit_status_name(status) << ": " << mxjit_last_error();
  for (const std::string& part : parts) EXPECT_CONTAINS(std::string(mxjit_last_error()), part);
}

TEST(CApi, VersionAndGpuCount) {
  const char* version = mxjit_version();
  ASSERT_NE(version, nullptr);
  EXPECT_GT(std::strlen(version), 0u);
  EXPECT_NE(std::strchr(version, '.'), nullptr) << version;  // "major.minor.patch"
  EXPECT_GE(mxjit_gpu_count(), 0);  // 0 is fine here; the test does not assume either way
}

TEST(CApi, StatusNames) {
  EXPECT_STREQ(mxjit_status_name(MXJIT_OK), "ok");
  EXPECT_STREQ(mxjit_status_name(MXJIT_ERROR_INVALID_ARGUMENT), "invalid_argument");
  EXPECT_STREQ(mxjit_status_name(MXJIT_ERROR_UNSUPPORTED), "unsupported");
  EXPECT_STREQ(mxjit_status_name(MXJIT_ERROR_NO_DEVICE), "no_device");
  EXPECT_STREQ(mxjit_status_name(MXJIT_ERROR_CUDA), "cuda_error");
  EXPECT_STREQ(mxjit_status_name(MXJIT_ERROR_COMPILE), "compile_error");
  EXPECT_STREQ(mxjit_status_name(MXJIT_ERROR_IO), "io_error");
  EXPECT_STREQ(mxjit_status_name(MXJIT_ERROR_INTERNAL), "internal");
  EXPECT_STREQ(mxjit_status_name(static_cast<mxjit_status>(42)), "unknown");
}

TEST(CApi, NullTensorsAreNamed) {
  CCall c;
  expect_invalid(c.run(nullptr, &c.q, &c.scales), {"input is NULL"});
  expect_invalid(c.run(&c.input, nullptr, &c.scales), {"q is NULL"});
  expect_invalid(c.run(&c.input, &c.q, nullptr), {"scales is NULL"});
}

TEST(CApi, BadEnumsAreNamed) {
  CCall c;
  c.layout = 7;
  expect_invalid(c.run(), {"layout = 7", "0..1"});
  c.layout = MXJIT_SCALE_LINEAR;
  c.rule = -1;
  expect_invalid(c.run(), {"rule = -1"});
}

TEST(CApi, BadTensorDescriptionsAreNamed) {
  CCall c;
  c.q.ndim = 4;
  expect_invalid(c.run(), {"q: ndim 4 not in [1, 3]"});
  c = CCall();
  c.scales.ndim = 0;
  expect_invalid(c.run(), {"scales: ndim 0"});
  c = CCall();
  c.input.dtype = static_cast<mxjit_dtype>(9);
  expect_invalid(c.run(), {"input: unknown dtype 9"});
}

TEST(CApi, QuantizeRulesComeThroughWithTheirMessages) {
  expect_invalid(CCall(48).run(), {"divisible by 32", "48"});
  CCall c;
  c.input.data = 0x10008;
  expect_invalid(c.run(), {"input pointer 0x10008"});
}

TEST(CApi, ValidCallNeedsTheDevice) {
  const CCall c;
  std::thread([&] {  // a fresh thread: no current CUDA context even on a GPU machine
    const mxjit_status status = c.run();
    if (mxjit_gpu_count() == 0) {
      EXPECT_EQ(status, MXJIT_ERROR_NO_DEVICE) << mxjit_last_error();
    } else {
      EXPECT_EQ(status, MXJIT_ERROR_INVALID_ARGUMENT) << mxjit_last_error();
      EXPECT_CONTAINS(std::string(mxjit_last_error()), "no current CUDA context");
    }
    EXPECT_GT(std::strlen(mxjit_last_error()), 0u);
  }).join();
}

TEST(CApi, EmptyInputSucceedsAndClearsTheLastError) {
  CCall c;
  expect_invalid(c.run(nullptr, &c.q, &c.scales), {"input"});
  c.input.shape[0] = c.q.shape[0] = c.scales.shape[0] = 0;
  EXPECT_EQ(c.run(), MXJIT_OK) << mxjit_last_error();
  EXPECT_STREQ(mxjit_last_error(), "");
}

TEST(CApi, ScaleBytes) {
  uint64_t bytes = 0;
  EXPECT_EQ(mxjit_mxfp8_scale_bytes(2, 3, 64, MXJIT_SCALE_LINEAR, &bytes), MXJIT_OK);
  EXPECT_EQ(bytes, 12u);
  EXPECT_EQ(mxjit_mxfp8_scale_bytes(2, 130, 96, MXJIT_SCALE_SWIZZLED_128X4, &bytes), MXJIT_OK);
  EXPECT_EQ(bytes, 2u * 256 * 4);
  EXPECT_STREQ(mxjit_last_error(), "");

  bytes = 777;
  expect_invalid(mxjit_mxfp8_scale_bytes(1, 1, 48, MXJIT_SCALE_LINEAR, &bytes), {"cols % 32", "[1, 1, 48]"});
  expect_invalid(mxjit_mxfp8_scale_bytes(-1, 1, 32, MXJIT_SCALE_LINEAR, &bytes), {"non-negative"});
  expect_invalid(mxjit_mxfp8_scale_bytes(1, 1, 32, static_cast<mxjit_scale_layout>(2), &bytes), {"layout = 2"});
  EXPECT_EQ(bytes, 777u) << "a failed call must not write the result";
  expect_invalid(mxjit_mxfp8_scale_bytes(1, 1, 32, MXJIT_SCALE_LINEAR, nullptr), {"bytes is NULL"});
}

TEST(CApi, LastErrorIsPerThread) {
  CCall c;
  expect_invalid(c.run(nullptr, &c.q, &c.scales), {"input is NULL"});
  std::string other;
  std::thread([&] {
    uint64_t bytes = 0;
    mxjit_mxfp8_scale_bytes(1, 1, 31, MXJIT_SCALE_LINEAR, &bytes);
    other = mxjit_last_error();
  }).join();
  EXPECT_CONTAINS(other, "[1, 1, 31]");
  EXPECT_CONTAINS(std::string(mxjit_last_error()), "input is NULL");  // untouched by the other thread
}

}  // namespace
}  // namespace mxjit

namespace mxjit {
namespace {

TEST(CApiLinear, CreateRejectsBadShapesWithTheRuleInTheMessage) {
  const int64_t parts[] = {64};
  mxjit_linear* layer = nullptr;
  EXPECT_EQ(mxjit_linear_create(48, parts, 1, 48, 64, MXJIT_DTYPE_BF16, 16, &layer), MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mxjit_last_error()).find("divisible by 32"), std::string::npos) << mxjit_last_error();
  EXPECT_EQ(layer, nullptr);
  EXPECT_EQ(mxjit_linear_create(64, nullptr, 1, 64, 64, MXJIT_DTYPE_BF16, 16, &layer), MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mxjit_last_error()).find("output_partition_sizes"), std::string::npos);
  EXPECT_EQ(mxjit_linear_create(64, parts, 0, 64, 64, MXJIT_DTYPE_BF16, 16, &layer), MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mxjit_last_error()).find("num_partitions"), std::string::npos);
  EXPECT_EQ(mxjit_linear_apply(nullptr, nullptr, nullptr, nullptr, nullptr), MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mxjit_last_error()).find("layer is NULL"), std::string::npos);
  mxjit_linear_destroy(nullptr);  // allowed, like free(NULL)
}

TEST(CApiGemm, WorkspaceBytesRejectsBadShapes) {
  uint64_t bytes = 7;
  EXPECT_EQ(mxjit_gemm_mxfp8_workspace_bytes(16, 64, 48, &bytes), MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mxjit_last_error()).find("multiple of 32"), std::string::npos);
  EXPECT_EQ(bytes, 7u);
  EXPECT_EQ(mxjit_gemm_mxfp8(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 0, nullptr),
            MXJIT_ERROR_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mxjit

TEST(CApiMoe, CreateRejectsBadShapesWithTheRuleInTheMessage) {
  mxjit_moe* layer = nullptr;
  EXPECT_EQ(mxjit_moe_create(8, 2, 4010, 1024, MXJIT_DTYPE_BF16, 16, 0, &layer), MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_CONTAINS(std::string(mxjit_last_error()), "MXFP8 requires hidden_size (H) to be divisible by 32");
  EXPECT_EQ(mxjit_moe_create(8, 2, 4096, 1024, MXJIT_DTYPE_BF16, 16, 0, nullptr), MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_CONTAINS(std::string(mxjit_last_error()), "layer is NULL");
  EXPECT_EQ(mxjit_moe_create(8, 2, 4096, 1024, static_cast<mxjit_dtype>(9), 16, 0, &layer), MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_CONTAINS(std::string(mxjit_last_error()), "params_dtype = 9");
  EXPECT_EQ(layer, nullptr);
  EXPECT_EQ(mxjit_moe_apply(nullptr, nullptr, nullptr, 0, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr),
            MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_CONTAINS(std::string(mxjit_last_error()), "layer is NULL");
}

TEST(CApiMoe, GroupedGemmNamesMissingTensors) {
  EXPECT_EQ(mxjit_grouped_gemm_mxfp8(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 0, nullptr, nullptr),
            MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_CONTAINS(std::string(mxjit_last_error()), "is NULL");
  EXPECT_EQ(mxjit_grouped_gemm_mxfp8_with_workspace(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 0,
                                                    nullptr, 0, 0, nullptr),
            MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_CONTAINS(std::string(mxjit_last_error()), "is NULL");
}

// The grouped GEMM's workspace: the bf16 token rows (K rounded up to 128) and a byte per row; on a GPU,
// sized for the current device's tiles, at least that (the TMA decode tiles' partials can need more).
TEST(CApiMoe, GroupedGemmWorkspaceBytes) {
  std::uint64_t bytes = 0;
  if (mxjit_gpu_count() > 0) {
    ASSERT_EQ(mxjit_device_activate(0), MXJIT_OK) << mxjit_last_error();
  }
  ASSERT_EQ(mxjit_grouped_gemm_mxfp8_workspace_bytes(1000, 160, &bytes), MXJIT_OK) << mxjit_last_error();
  if (mxjit_gpu_count() == 0) EXPECT_EQ(bytes, 1000u * 256 * 2 + 1024);
  else EXPECT_GE(bytes, 1000u * 256 * 2 + 1024);
  EXPECT_EQ(mxjit_grouped_gemm_mxfp8_workspace_bytes(10, 48, &bytes), MXJIT_ERROR_INVALID_ARGUMENT);
  EXPECT_CONTAINS(std::string(mxjit_last_error()), "K = 48");
  EXPECT_EQ(mxjit_grouped_gemm_mxfp8_workspace_bytes(10, 64, nullptr), MXJIT_ERROR_INVALID_ARGUMENT);
}
