// Argument validation of the MoE auxiliary launches, without a GPU: every check runs before the first
// device access, so fake (never dereferenced) device pointers are enough.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "mxjit/mxjit.hpp"
#include "ops/moe_kernels.hpp"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

using mxjit::testing::error_message;

// Valid calls on fake, 16-byte-aligned device pointers: T = 4 tokens, E = 8 experts, k = 2, I = 64, H = 32.
struct Call {
  // route_topk
  TensorView logits = TensorView::contiguous(0x10000, DType::bf16, {4, 8});
  int top_k = 2;
  TensorView topk_ids = TensorView::contiguous(0x20000, DType::i32, {4, 2});
  TensorView topk_weights = TensorView::contiguous(0x30000, DType::f32, {4, 2});
  // group_by_expert
  TensorView expert_map = TensorView::contiguous(0x40000, DType::i32, {16});
  bool use_map = true;
  int local_experts = 8;
  ops::MoeGrouping grouping{0x50000, 0x60000, 0x70000};
  // silu_mul_quantize: h [8, 128] -> aq [8, 64], scales [8, 2] with rows padded to 4 bytes
  TensorView h = TensorView::contiguous(0x80000, DType::fp16, {8, 128});
  std::uint64_t row_count = 0x90000;
  TensorView aq = TensorView::contiguous(0xA0000, DType::e4m3, {8, 64});
  TensorView a_scales = padded_scales();
  // combine: y [8, 32] -> out [4, 32]
  TensorView y = TensorView::contiguous(0xB0000, DType::bf16, {8, 32});
  std::uint64_t pair_row = 0xC0000;
  TensorView out = TensorView::contiguous(0xD0000, DType::bf16, {4, 32});

  static TensorView padded_scales() {
    TensorView s = TensorView::contiguous(0xE0000, DType::e8m0, {8, 2});
    s.strides[0] = 4;
    return s;
  }
  void route() const { ops::launch_route_topk(logits, top_k, true, topk_ids, topk_weights, nullptr); }
  void group() const {
    ops::launch_group_by_expert(topk_ids, use_map ? &expert_map : nullptr, local_experts, grouping, nullptr);
  }
  void silu() const { ops::launch_silu_mul_quantize(h, row_count, aq, a_scales, ScaleRule::rceil, nullptr); }
  void combine() const { ops::launch_moe_combine(y, pair_row, topk_weights, out, nullptr); }
};

enum class Launch { route, group, silu, combine };

// One broken rule: the launch, how to break a valid call, and what the message must say.
struct BadCall {
  const char* name;
  Launch launch;
  void (*spoil)(Call&);
  std::vector<std::string> message;
};

std::ostream& operator<<(std::ostream& os, const BadCall& b) { return os << b.name; }

void run(const Call& c, Launch launch) {
  switch (launch) {
    case Launch::route: return c.route();
    case Launch::group: return c.group();
    case Launch::silu: return c.silu();
    case Launch::combine: return c.combine();
  }
}

const BadCall bad_calls[] = {
    // route_topk
    {"RouteI32Logits", Launch::route, [](Call& c) { c.logits.dtype = DType::i32; },
     {"logits dtype must be bf16 or fp16 or f32, got i32"}},
    {"RouteOneDimensionalLogits", Launch::route,
     [](Call& c) { c.logits = TensorView::contiguous(0x10000, DType::bf16, {32}); }, {"logits must be 2-D", "[32]"}},
    {"RouteTooManyExperts", Launch::route,
     [](Call& c) { c.logits = TensorView::contiguous(0x10000, DType::bf16, {4, 513}); },
     {"E = 513 must be in [1, 512]"}},
    {"RouteNoExperts", Launch::route, [](Call& c) { c.logits = TensorView::contiguous(0x10000, DType::bf16, {4, 0}); },
     {"E = 0 must be in [1, 512]"}},
    {"RouteTopKZero", Launch::route, [](Call& c) { c.top_k = 0; }, {"top_k = 0 must be >= 1"}},
    {"RouteTopKAboveExperts", Launch::route, [](Call& c) { c.top_k = 9; },
     {"top_k = 9 exceeds the number of experts E = 8"}},
    {"RouteTopKAboveKernelLimit", Launch::route,
     [](Call& c) {
       c.logits = TensorView::contiguous(0x10000, DType::bf16, {4, 64});
       c.top_k = 33;
     },
     {"top_k = 33 exceeds the kernel's limit of 32"}},
    {"RouteLogitRowStrideBelowE", Launch::route, [](Call& c) { c.logits.strides[0] = 4; },
     {"logits row stride 4 is below its width 8"}},
    {"RouteLogitColumnStride", Launch::route, [](Call& c) { c.logits.strides = {16, 2}; }, {"unit column stride, got 2"}},
    {"RouteMisalignedF32Logits", Launch::route,
     [](Call& c) {
       c.logits.dtype = DType::f32;
       c.logits.data = 0x10002;
     },
     {"logits pointer 0x10002 is not 4-byte aligned"}},
    {"RouteIdsWrongDtype", Launch::route, [](Call& c) { c.topk_ids.dtype = DType::f32; },
     {"topk_ids dtype must be i32, got f32"}},
    {"RouteIdsWrongShape", Launch::route,
     [](Call& c) { c.topk_ids = TensorView::contiguous(0x20000, DType::i32, {4, 3}); },
     {"topk_ids has shape [4, 3], expected [4, 2]"}},
    {"RouteWeightsWrongTokens", Launch::route,
     [](Call& c) { c.topk_weights = TensorView::contiguous(0x30000, DType::f32, {5, 2}); },
     {"topk_weights has shape [5, 2], expected [4, 2]"}},
    {"RouteWeightsStrided", Launch::route, [](Call& c) { c.topk_weights.strides[0] = 4; },
     {"topk_weights of shape [4, 2] must be contiguous"}},
    {"RouteNullIds", Launch::route, [](Call& c) { c.topk_ids.data = 0; }, {"topk_ids pointer is null"}},
    // group_by_expert
    {"GroupF32Ids", Launch::group, [](Call& c) { c.topk_ids.dtype = DType::f32; },
     {"moe_group_by_expert: topk_ids dtype must be i32, got f32"}},
    {"GroupStridedIds", Launch::group, [](Call& c) { c.topk_ids.strides[0] = 3; },
     {"topk_ids of shape [4, 2] must be contiguous"}},
    {"GroupNoSlots", Launch::group, [](Call& c) { c.topk_ids = TensorView::contiguous(0x20000, DType::i32, {4, 0}); },
     {"top_k = 0 (topk_ids columns) must be >= 1"}},
    {"GroupTooManyPairs", Launch::group,
     [](Call& c) { c.topk_ids = TensorView::contiguous(0x20000, DType::i32, {1 << 20, 1 << 11}); },
     {"T * k = 1048576 * 2048 pairs exceed the limit of 2^31 - 1"}},
    {"GroupNoLocalExperts", Launch::group, [](Call& c) { c.local_experts = 0; },
     {"num_local_experts = 0 must be in [1, 1024]"}},
    {"GroupTooManyLocalExperts", Launch::group, [](Call& c) { c.local_experts = 1025; },
     {"num_local_experts = 1025 must be in [1, 1024]"}},
    {"GroupMapWrongDtype", Launch::group, [](Call& c) { c.expert_map.dtype = DType::u8; },
     {"expert_map dtype must be i32, got u8"}},
    {"GroupMapTwoDimensional", Launch::group,
     [](Call& c) { c.expert_map = TensorView::contiguous(0x40000, DType::i32, {2, 8}); },
     {"expert_map must be 1-D [E_global]", "got shape [2, 8]"}},
    {"GroupMapEmpty", Launch::group, [](Call& c) { c.expert_map = TensorView::contiguous(0x40000, DType::i32, {0}); },
     {"E_global >= 1", "got shape [0]"}},
    {"GroupMapStrided", Launch::group, [](Call& c) { c.expert_map.strides[0] = 2; }, {"unit stride"}},
    {"GroupNullPairRow", Launch::group, [](Call& c) { c.grouping.pair_row = 0; }, {"pair_row pointer is null"}},
    {"GroupMisalignedOffsets", Launch::group, [](Call& c) { c.grouping.expert_offsets = 0x50002; },
     {"expert_offsets pointer 0x50002 is not 4-byte aligned"}},
    {"GroupNullRowToken", Launch::group, [](Call& c) { c.grouping.row_token = 0; }, {"row_token pointer is null"}},
    // silu_mul_quantize
    {"SiluF32Input", Launch::silu, [](Call& c) { c.h.dtype = DType::f32; }, {"h dtype must be bf16 or fp16, got f32"}},
    {"SiluIntermediateNotMultipleOf32", Launch::silu,
     [](Call& c) { c.h = TensorView::contiguous(0x80000, DType::fp16, {8, 96}); },
     {"intermediate size I to be a positive multiple of 32", "2I = 96"}},
    {"SiluOddWidth", Launch::silu, [](Call& c) { c.h = TensorView::contiguous(0x80000, DType::fp16, {8, 65}); },
     {"2I = 65"}},
    {"SiluRowStrideNotMultipleOf8", Launch::silu, [](Call& c) { c.h.strides[0] = 132; },
     {"h row stride 132 must be a multiple of 8"}},
    {"SiluMisalignedInput", Launch::silu, [](Call& c) { c.h.data = 0x80008; }, {"h pointer 0x80008", "16-byte aligned"}},
    {"SiluOutputWrongShape", Launch::silu, [](Call& c) { c.aq = TensorView::contiguous(0xA0000, DType::e4m3, {8, 128}); },
     {"aq has shape [8, 128], expected [8, 64]"}},
    {"SiluOutputWrongDtype", Launch::silu, [](Call& c) { c.aq.dtype = DType::bf16; },
     {"aq dtype must be e4m3 or u8, got bf16"}},
    {"SiluOutputStrided", Launch::silu, [](Call& c) { c.aq.strides[0] = 80; }, {"aq of shape [8, 64] must be contiguous"}},
    {"SiluScalesWrongShape", Launch::silu,
     [](Call& c) { c.a_scales = TensorView::contiguous(0xE0000, DType::e8m0, {8, 3}); },
     {"a_scales has shape [8, 3], expected [8, 2]"}},
    {"SiluScalesRowStrideBelowWidth", Launch::silu, [](Call& c) { c.a_scales.strides[0] = 1; },
     {"a_scales row stride 1 is below its width 2"}},
    {"SiluScalesWrongDtype", Launch::silu, [](Call& c) { c.a_scales.dtype = DType::i32; },
     {"a_scales dtype must be e8m0 or u8, got i32"}},
    {"SiluMisalignedRowCount", Launch::silu, [](Call& c) { c.row_count = 0x90002; },
     {"row_count pointer 0x90002 is not 4-byte aligned"}},
    {"SiluTooManyBlocks", Launch::silu,
     [](Call& c) {
       c.h = TensorView::contiguous(0x80000, DType::fp16, {std::int64_t{1} << 27, 2048});
       c.aq = TensorView::contiguous(0xA0000, DType::e4m3, {std::int64_t{1} << 27, 1024});
       c.a_scales = TensorView::contiguous(0xE0000, DType::e8m0, {std::int64_t{1} << 27, 32});
     },
     {"exceed one launch's limit of 2^32"}},
    // combine
    {"CombineF32Output", Launch::combine, [](Call& c) { c.out.dtype = DType::f32; },
     {"out dtype must be bf16 or fp16, got f32"}},
    {"CombineHiddenNotMultipleOf8", Launch::combine,
     [](Call& c) {
       c.out = TensorView::contiguous(0xD0000, DType::bf16, {4, 12});
       c.y = TensorView::contiguous(0xB0000, DType::bf16, {8, 12});
     },
     {"H = 12 must be a positive multiple of 8"}},
    {"CombineDtypeMismatch", Launch::combine, [](Call& c) { c.y.dtype = DType::fp16; },
     {"y dtype fp16 must match out's bf16"}},
    {"CombineHiddenMismatch", Launch::combine,
     [](Call& c) { c.y = TensorView::contiguous(0xB0000, DType::bf16, {8, 40}); },
     {"y has shape [8, 40], expected [*, 32]"}},
    {"CombineWeightsWrongTokens", Launch::combine,
     [](Call& c) { c.topk_weights = TensorView::contiguous(0x30000, DType::f32, {3, 2}); },
     {"topk_weights has shape [3, 2], expected [4, *]"}},
    {"CombineWeightsWrongDtype", Launch::combine, [](Call& c) { c.topk_weights.dtype = DType::bf16; },
     {"topk_weights dtype must be f32, got bf16"}},
    {"CombineNoSlots", Launch::combine,
     [](Call& c) { c.topk_weights = TensorView::contiguous(0x30000, DType::f32, {4, 0}); },
     {"top_k = 0 (topk_weights columns) must be >= 1"}},
    {"CombineNullPairRow", Launch::combine, [](Call& c) { c.pair_row = 0; }, {"pair_row pointer is null"}},
    {"CombineMisalignedPairRow", Launch::combine, [](Call& c) { c.pair_row = 0xC0002; },
     {"pair_row pointer 0xc0002 is not 4-byte aligned"}},
    {"CombineOutRowStrideNotMultipleOf8", Launch::combine, [](Call& c) { c.out.strides[0] = 36; },
     {"out row stride 36 must be a multiple of 8"}},
    {"CombineMisalignedY", Launch::combine, [](Call& c) { c.y.data = 0xB0004; }, {"y pointer 0xb0004", "16-byte aligned"}},
};

class MoeAuxRejects : public ::testing::TestWithParam<BadCall> {};

TEST_P(MoeAuxRejects, NamingTheValueAndTheRule) {
  Call call;
  GetParam().spoil(call);
  const std::string what = error_message(ErrorCode::invalid_argument, [&] { run(call, GetParam().launch); });
  for (const std::string& part : GetParam().message) EXPECT_CONTAINS(what, part);
}

INSTANTIATE_TEST_SUITE_P(Rules, MoeAuxRejects, ::testing::ValuesIn(bad_calls),
                         [](const ::testing::TestParamInfo<BadCall>& info) { return std::string(info.param.name); });

// Past validation a call needs the device: without a GPU that is Error(no_device), not a crash. On a
// GPU machine a fresh thread has no current context, which is reported before any launch.
void expect_device_needed(const Call& call, Launch launch) {
  std::thread([&] {
    if (gpu_count() == 0) {
      EXPECT_FALSE(error_message(ErrorCode::no_device, [&] { run(call, launch); }).empty());
    } else {
      EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] { run(call, launch); }),
                      "no current CUDA context");
    }
  }).join();
}

TEST(MoeAuxArgs, ValidCallsGetAsFarAsTheDevice) {
  for (Launch launch : {Launch::route, Launch::group, Launch::silu, Launch::combine}) {
    SCOPED_TRACE(static_cast<int>(launch));
    expect_device_needed(Call{}, launch);
  }
  Call variants;
  variants.logits.dtype = DType::f32;  // f32 logits, strided rows
  variants.logits.strides[0] = 12;
  variants.top_k = 8;                   // k == E
  variants.topk_ids = TensorView::contiguous(0x20000, DType::i32, {4, 8});
  variants.topk_weights = TensorView::contiguous(0x30000, DType::f32, {4, 8});
  variants.use_map = false;
  variants.local_experts = 1024;
  variants.row_count = 0;              // every row
  variants.a_scales = TensorView::contiguous(0xE0000, DType::u8, {8, 2});  // unpadded rows
  for (Launch launch : {Launch::route, Launch::group, Launch::silu}) expect_device_needed(variants, launch);
}

TEST(MoeAuxArgs, EmptyProblemsReturnWithoutTheDeviceButGroupingStillLaunches) {
  Call empty;
  empty.logits = TensorView::contiguous(0x10000, DType::bf16, {0, 8});
  empty.topk_ids = TensorView::contiguous(0x20000, DType::i32, {0, 2});
  empty.topk_weights = TensorView::contiguous(0x30000, DType::f32, {0, 2});
  empty.h = TensorView::contiguous(0x80000, DType::fp16, {0, 128});
  empty.aq = TensorView::contiguous(0xA0000, DType::e4m3, {0, 64});
  empty.a_scales = TensorView::contiguous(0xE0000, DType::e8m0, {0, 2});
  empty.out = TensorView::contiguous(0xD0000, DType::bf16, {0, 32});
  EXPECT_NO_THROW(empty.route());
  EXPECT_NO_THROW(empty.silu());
  EXPECT_NO_THROW(empty.combine());
  expect_device_needed(empty, Launch::group);  // the offsets of zero pairs are still written
}

}  // namespace
}  // namespace mxjit
