// mxjit::quantize_mxfp8 argument validation and mxfp8_scale_bytes, without a GPU: every check runs
// before the first device access, so fake (never dereferenced) device pointers are enough.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "mxjit/mxjit.hpp"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

using mxjit::testing::error_message;

// A valid call on fake, 16-byte-aligned device pointers: bf16 [4, 64] -> e4m3 [4, 64] + linear [4, 2].
struct Call {
  TensorView input = TensorView::contiguous(0x10000, DType::bf16, {4, 64});
  TensorView q = TensorView::contiguous(0x20000, DType::e4m3, {4, 64});
  TensorView scales = TensorView::contiguous(0x30000, DType::e8m0, {4, 2});
  QuantizeOptions options;

  void run() const { quantize_mxfp8(input, q, scales, options, nullptr); }
  // Same shape for all three tensors' leading dims, the scales' last dim derived from K.
  void reshape(std::initializer_list<std::int64_t> shape) {
    input = TensorView::contiguous(input.data, input.dtype, shape);
    q = TensorView::contiguous(q.data, q.dtype, shape);
    std::vector<std::int64_t> s(shape);
    s.back() /= 32;
    scales = s.size() == 2 ? TensorView::contiguous(scales.data, scales.dtype, {s[0], s[1]})
                           : TensorView::contiguous(scales.data, scales.dtype, {s[0], s[1], s[2]});
  }
};

// One broken rule: how to break a valid call, and what the message must say.
struct BadCall {
  const char* name;
  void (*spoil)(Call&);
  std::vector<std::string> message;
};

std::ostream& operator<<(std::ostream& os, const BadCall& b) { return os << b.name; }

const BadCall bad_calls[] = {
    {"KNotMultipleOf32", [](Call& c) { c.reshape({4, 48}); }, {"divisible by 32", "48"}},
    {"F32Input", [](Call& c) { c.input.dtype = DType::f32; }, {"f32", "bf16 or fp16"}},
    {"OneDimensionalInput",
     [](Call& c) {
       c.input = TensorView::contiguous(0x10000, DType::bf16, {64});
       c.q = TensorView::contiguous(0x20000, DType::e4m3, {64});
     },
     {"2-D", "got 1 dimensions"}},
    {"LastDimStrided", [](Call& c) { c.input.strides = {128, 2}; }, {"contiguous (stride 1)", "got 2"}},
    {"RowStrideNotMultipleOf8", [](Call& c) { c.input.strides = {68, 1}; }, {"row stride 68", "multiple of 8"}},
    {"RowStrideBelowK", [](Call& c) { c.input.strides = {32, 1}; }, {"row stride 32", ">= K = 64"}},
    {"BatchStrideNotMultipleOf8",
     [](Call& c) {
       c.reshape({2, 4, 64});
       c.input.strides = {260, 64, 1};
     },
     {"batch stride 260", "multiple of 8"}},
    {"MisalignedInput", [](Call& c) { c.input.data = 0x10008; }, {"input pointer 0x10008", "16-byte aligned"}},
    {"MisalignedQ", [](Call& c) { c.q.data = 0x20004; }, {"q pointer 0x20004", "16-byte aligned"}},
    {"QWrongDtype", [](Call& c) { c.q.dtype = DType::bf16; }, {"q dtype", "e4m3", "got bf16"}},
    {"QWrongShape", [](Call& c) { c.q = TensorView::contiguous(0x20000, DType::e4m3, {4, 32}); },
     {"q has shape [4, 32], the input [4, 64]"}},
    {"QNonContiguous", [](Call& c) { c.q.strides = {128, 1}; }, {"q of shape [4, 64] must be contiguous"}},
    {"QFewerDims", [](Call& c) { c.q = TensorView::contiguous(0x20000, DType::e4m3, {256}); },
     {"q has shape [256], the input [4, 64]"}},
    {"NullInput", [](Call& c) { c.input.data = 0; }, {"input pointer is null"}},
    {"NullQ", [](Call& c) { c.q.data = 0; }, {"q pointer is null"}},
    {"ShapeOverflowingInt64", [](Call& c) { c.reshape({std::int64_t{1} << 40, std::int64_t{1} << 40, 64}); },
     {"out of range"}},
    {"ScalesWrongDtype", [](Call& c) { c.scales.dtype = DType::bf16; }, {"scales dtype", "e8m0", "got bf16"}},
    {"LinearScalesColumnStride", [](Call& c) { c.scales.strides = {4, 2}; }, {"unit column stride", "row stride >= 2"}},
    {"LinearScalesRowStrideBelowWidth", [](Call& c) { c.scales.strides = {1, 1}; }, {"row stride >= 2"}},
    {"SwizzledScalesNonContiguous",
     [](Call& c) {
       c.options.layout = ScaleLayout::swizzled_128x4;
       c.scales = TensorView::contiguous(0x30000, DType::e8m0, {128, 4});
       c.scales.strides = {8, 1};
     },
     {"swizzled scales must be contiguous"}},
    {"LinearScalesWrongShape", [](Call& c) { c.scales = TensorView::contiguous(0x30000, DType::e8m0, {4, 3}); },
     {"linear scales must have shape [.., 4, 2]"}},
    {"LinearScalesWrongBatches",
     [](Call& c) {
       c.reshape({2, 4, 64});
       c.scales = TensorView::contiguous(0x30000, DType::e8m0, {3, 4, 2});
     },
     {"linear scales must have shape [.., 4, 2]"}},
    {"SwizzledScalesWrongBytes",
     [](Call& c) {
       c.options.layout = ScaleLayout::swizzled_128x4;
       c.scales = TensorView::contiguous(0x30000, DType::u8, {256});  // needs 1 * 128 * 4
     },
     {"exactly 512 bytes", "got 256"}},
    {"TooManyBlocksForOneLaunch", [](Call& c) { c.reshape({1 << 20, 1 << 17}); },  // 2^32 blocks of 32
     {"exceed one launch's limit", "split the tensor"}},
};

class QuantizeRejects : public ::testing::TestWithParam<BadCall> {};

TEST_P(QuantizeRejects, NamingTheValueAndTheRule) {
  Call call;
  GetParam().spoil(call);
  const std::string what = error_message(ErrorCode::invalid_argument, [&] { call.run(); });
  for (const std::string& part : GetParam().message) EXPECT_CONTAINS(what, part);
}

INSTANTIATE_TEST_SUITE_P(Rules, QuantizeRejects, ::testing::ValuesIn(bad_calls),
                         [](const ::testing::TestParamInfo<BadCall>& info) { return std::string(info.param.name); });

// Past validation a call needs the device: without a GPU that is Error(no_device), not a crash. On
// a GPU machine a fresh thread has no current context, which is reported before any launch.
void expect_device_needed(const Call& call) {
  std::thread([&] {
    if (gpu_count() == 0) {
      EXPECT_FALSE(error_message(ErrorCode::no_device, [&] { call.run(); }).empty());
    } else {
      EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] { call.run(); }), "no current CUDA context");
    }
  }).join();
}

TEST(TensorViewBasics, ElementSizesAndContiguity) {
  EXPECT_EQ(element_size(DType::bf16), 2u);
  EXPECT_EQ(element_size(DType::f32), 4u);
  EXPECT_EQ(element_size(DType::e4m3), 1u);
  TensorView t = TensorView::contiguous(0x100, DType::bf16, {2, 3, 64});
  EXPECT_EQ(t.numel(), 384);
  EXPECT_EQ(t.stride(-2), 64);
  EXPECT_TRUE(t.is_contiguous());
  t.strides[1] = 128;
  EXPECT_FALSE(t.is_contiguous());
}

TEST(QuantizeArgs, ValidCallsGetAsFarAsTheDevice) {
  Call linear;
  expect_device_needed(linear);

  Call swizzled;
  swizzled.options = {ScaleLayout::swizzled_128x4, ScaleRule::floor};
  swizzled.reshape({2, 130, 96});
  swizzled.scales = TensorView::contiguous(0x30000, DType::u8, {2 * 256 * 4});
  swizzled.input.dtype = DType::fp16;
  expect_device_needed(swizzled);

  Call padded_rows;  // row stride above K, a multiple of 8
  padded_rows.input.strides = {72, 1};
  expect_device_needed(padded_rows);
}

TEST(QuantizeArgs, EmptyInputReturnsWithoutTheDevice) {
  for (auto shape : {std::initializer_list<std::int64_t>{0, 64}, {2, 0, 64}, {0, 4, 64}}) {
    Call call;
    call.reshape(shape);
    EXPECT_NO_THROW(call.run()) << "rank " << call.input.ndim;
  }
  Call swizzled;  // zero rows need zero scale bytes in either layout
  swizzled.reshape({0, 64});
  swizzled.options.layout = ScaleLayout::swizzled_128x4;
  swizzled.scales = TensorView::contiguous(0x30000, DType::u8, {0});
  EXPECT_NO_THROW(swizzled.run());
  // Still validated: an empty input with a bad K is rejected.
  Call bad;
  bad.reshape({0, 48});
  error_message(ErrorCode::invalid_argument, [&] { bad.run(); });
}

TEST(ScaleBytes, LinearAndSwizzled) {
  EXPECT_EQ(mxfp8_scale_bytes(2, 3, 64, ScaleLayout::linear), 12u);
  EXPECT_EQ(mxfp8_scale_bytes(1, 1, 32, ScaleLayout::swizzled_128x4), 128u * 4);
  EXPECT_EQ(mxfp8_scale_bytes(2, 130, 96, ScaleLayout::swizzled_128x4), 2u * 256 * 4);
  EXPECT_EQ(mxfp8_scale_bytes(1, 128, 128, ScaleLayout::swizzled_128x4), 128u * 4);  // already aligned
  EXPECT_EQ(mxfp8_scale_bytes(1, 1, 32 * 5, ScaleLayout::swizzled_128x4), 128u * 8);
  EXPECT_EQ(mxfp8_scale_bytes(3, 0, 64, ScaleLayout::swizzled_128x4), 0u);
  EXPECT_EQ(mxfp8_scale_bytes(0, 7, 64, ScaleLayout::linear), 0u);
}

TEST(ScaleBytes, RejectsNegativeSizesAndRaggedColumns) {
  struct Bad {
    std::int64_t b, r, c;
  };
  for (const Bad& s : {Bad{1, 1, 48}, Bad{-1, 1, 32}, Bad{1, -1, 32}, Bad{1, 1, -32}, Bad{1, 1, 31}})
    for (ScaleLayout layout : {ScaleLayout::linear, ScaleLayout::swizzled_128x4}) {
      const std::string what =
          error_message(ErrorCode::invalid_argument, [&] { mxfp8_scale_bytes(s.b, s.r, s.c, layout); });
      EXPECT_CONTAINS(what, "[" + std::to_string(s.b) + ", " + std::to_string(s.r) + ", " + std::to_string(s.c) + "]");
    }
}

}  // namespace
}  // namespace mxjit
