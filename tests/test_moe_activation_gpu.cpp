// The MoE activation (silu * up, MXFP8-quantized) and the weighted combine on the GPU, bit-exact
// against the CPU references.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "device_vectors.hpp"
#include "gpu_fixture.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/reference/moe_reference.hpp"
#include "runtime/driver_api.hpp"
#include "test_data.hpp"

namespace mxjit::testing {
namespace {

constexpr std::uint8_t poison = 0xCD;

// ---- silu_mul_quantize ------------------------------------------------------------------------

enum class Values { random_bits, gaussian_wide, edge_blocks, activations };

const char* to_string(Values v) {
  switch (v) {
    case Values::random_bits: return "random_bits";
    case Values::gaussian_wide: return "gaussian_wide";
    case Values::edge_blocks: return "edge_blocks";
    case Values::activations: return "activations";
  }
  return "?";
}

// `count` (a multiple of 32) 16-bit values; `activations` are N(0, 3), where silu's exp does its real work.
std::vector<std::uint16_t> make_h(DType dtype, std::size_t count, Values v, std::mt19937_64& rng) {
  if (v == Values::random_bits) return make_input(dtype, count, Distribution::random_bits, rng);
  if (v == Values::gaussian_wide) return make_input(dtype, count, Distribution::gaussian_wide, rng);
  if (v == Values::edge_blocks) return make_input(dtype, count, Distribution::edge_blocks, rng);
  std::normal_distribution<float> normal(0.f, 3.f);
  std::vector<std::uint16_t> h(count);
  for (std::uint16_t& x : h)
    x = dtype == DType::bf16 ? reference::float_to_bf16(normal(rng)) : reference::float_to_fp16(normal(rng));
  return h;
}

struct SiluCase {
  DType dtype;
  ScaleRule rule;
  std::int64_t rows, inter;
  std::int64_t h_pad = 0;             // extra elements per h row (a multiple of 32)
  std::int64_t scale_stride = 0;      // bytes per a_scales row; 0: round_up(I/32, 4)
  std::int64_t row_count = INT64_MIN; // *row_count on the device; INT64_MIN: no pointer (every row)
};

std::string describe(const SiluCase& c, Values v) {
  return fmt::format("{} {} R={} I={} h_pad={} scale_stride={} row_count={} {}", to_string(c.dtype), to_string(c.rule),
                     c.rows, c.inter, c.h_pad, c.scale_stride,
                     c.row_count == INT64_MIN ? std::string("none") : std::to_string(c.row_count), to_string(v));
}

// Device buffers of one activation: h in, poisoned aq and a_scales out, the row count.
struct SiluBuffers {
  std::int64_t h_stride, scale_stride;
  runtime::DeviceBuffer h, aq, scales, count;

  SiluBuffers(const SiluCase& c, const std::vector<std::uint16_t>& host_h)
      : h_stride(2 * c.inter + c.h_pad),
        scale_stride(c.scale_stride ? c.scale_stride : (c.inter / 32 + 3) / 4 * 4),
        h(to_device(host_h)),
        aq(c.rows * c.inter),
        scales(c.rows * scale_stride),
        count(to_device(std::vector<std::int32_t>{0})) {}

  void set_count(std::int64_t row_count) {
    const auto value = static_cast<std::int32_t>(row_count);
    count.upload(&value, 4);
    std::uint8_t landed;
    count.download(&landed, 1);
  }
  void launch(const SiluCase& c, bool with_count, CUstream stream) const {
    TensorView h_view = TensorView::contiguous(h.get(), c.dtype, {c.rows, 2 * c.inter});
    h_view.strides[0] = h_stride;
    TensorView s_view = TensorView::contiguous(scales.get(), DType::e8m0, {c.rows, c.inter / 32});
    s_view.strides[0] = scale_stride;
    ops::launch_silu_mul_quantize(h_view, with_count ? count.get() : 0,
                                  TensorView::contiguous(aq.get(), DType::e4m3, {c.rows, c.inter}), s_view, c.rule,
                                  stream);
  }
  // Rows below `processed` equal the reference; the rest, and the scale rows' padding, still hold poison.
  void check(const SiluCase& c, const std::vector<std::uint16_t>& host_h, std::int64_t processed) const {
    const reference::Mxfp8Tensor want =
        reference::silu_mul_quantize(host_h.data(), c.dtype, processed, c.inter, h_stride, c.rule);
    const auto got_q = from_device<std::uint8_t>(aq, c.rows * c.inter);
    const auto got_s = from_device<std::uint8_t>(scales, c.rows * scale_stride);
    const std::int64_t blocks = c.inter / 32;
    int reported = 0;
    for (std::int64_t r = 0; r < c.rows && reported < 10; ++r)
      for (std::int64_t b = 0; b < scale_stride && reported < 10; ++b) {
        const std::uint8_t got = got_s[r * scale_stride + b];
        const int want_s = r < processed && b < blocks ? want.scales[r * blocks + b] : poison;
        if (got != want_s) {
          ADD_FAILURE() << fmt::format("scale of row {} block {}: got {:#04x}, want {:#04x}", r, b, got, want_s);
          ++reported;
        }
      }
    for (std::int64_t i = 0; i < c.rows * c.inter && reported < 10; ++i) {
      const std::int64_t r = i / c.inter, col = i % c.inter;
      const int want_q = r < processed ? want.q[i] : poison;
      if (got_q[i] != want_q) {
        const std::uint16_t gate = host_h[r * h_stride + col], up = host_h[r * h_stride + c.inter + col];
        ADD_FAILURE() << fmt::format("aq[{}, {}]: got {:#04x}, want {:#04x}; gate {:#06x} up {:#06x} -> a {:#06x}", r,
                                     col, got_q[i], want_q, gate, up, reference::silu_mul(gate, up, c.dtype));
        ++reported;
      }
    }
  }
};

void check_silu(const SiluCase& c, Values v, CUstream stream) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE(describe(c, v) + fmt::format(" seed={}", seed));
  std::mt19937_64 rng(seed);
  const std::vector<std::uint16_t> host_h = make_h(c.dtype, c.rows * (2 * c.inter + c.h_pad), v, rng);
  SiluBuffers buffers(c, host_h);
  const bool with_count = c.row_count != INT64_MIN;
  if (with_count) buffers.set_count(c.row_count);
  buffers.aq.fill(poison, stream);
  buffers.scales.fill(poison, stream);
  buffers.launch(c, with_count, stream);
  MXJIT_CU(cuStreamSynchronize, stream);
  buffers.check(c, host_h, with_count ? std::clamp<std::int64_t>(c.row_count, 0, c.rows) : c.rows);
}

struct SiluVariant {
  DType dtype;
  ScaleRule rule;
};

class SiluMulQuantizeGpu : public GpuTest, public ::testing::WithParamInterface<SiluVariant> {};

TEST_P(SiluMulQuantizeGpu, BitExactOnEveryValueKind) {
  const auto [dtype, rule] = GetParam();
  for (std::int64_t inter : {32, 768, 7168})
    for (Values v : {Values::activations, Values::random_bits, Values::gaussian_wide, Values::edge_blocks})
      for (std::int64_t rows : {1, 37, 130}) check_silu({dtype, rule, rows, inter}, v, stream());
}

TEST_P(SiluMulQuantizeGpu, StridedRowsAndScaleStrides) {
  const auto [dtype, rule] = GetParam();
  check_silu({dtype, rule, 65, 768, 64, 0}, Values::activations, stream());   // h rows padded
  check_silu({dtype, rule, 33, 96, 0, 3}, Values::edge_blocks, stream());     // unpadded scale rows (3 bytes)
  check_silu({dtype, rule, 33, 96, 32, 8}, Values::random_bits, stream());    // wide scale rows: padding untouched
}

TEST_P(SiluMulQuantizeGpu, RowsAtAndPastRowCountStayUntouched) {
  const auto [dtype, rule] = GetParam();
  for (std::int64_t count : std::initializer_list<std::int64_t>{100, 1, 0, -3, 128, 1000})
    check_silu({dtype, rule, 128, 768, 0, 0, count}, Values::activations, stream());
}

INSTANTIATE_TEST_SUITE_P(Variants, SiluMulQuantizeGpu,
                         ::testing::Values(SiluVariant{DType::bf16, ScaleRule::rceil},
                                           SiluVariant{DType::bf16, ScaleRule::floor},
                                           SiluVariant{DType::fp16, ScaleRule::rceil},
                                           SiluVariant{DType::fp16, ScaleRule::floor}),
                         [](const auto& info) {
                           return fmt::format("{}_{}", to_string(info.param.dtype), to_string(info.param.rule));
                         });

using SiluMulQuantizeGpuGraph = GpuTest;

// Captured once with a device row count, replayed as the count changes (what decode does per step).
TEST_F(SiluMulQuantizeGpuGraph, ReplaysFollowTheRowCountOnTheDevice) {
  const SiluCase c{DType::bf16, ScaleRule::rceil, 64, 256, 0, 0, 0};
  std::mt19937_64 rng(fresh_seed());
  const std::vector<std::uint16_t> host_h = make_h(c.dtype, c.rows * 2 * c.inter, Values::activations, rng);
  SiluBuffers buffers(c, host_h);
  buffers.launch(c, true, stream());  // compiles and loads outside the capture (count 0: writes nothing)
  MXJIT_CU(cuStreamSynchronize, stream());

  CUgraph graph{};
  MXJIT_CU(cuStreamBeginCapture, stream(), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  buffers.launch(c, true, stream());
  MXJIT_CU(cuStreamEndCapture, stream(), &graph);
  CUgraphExec exec{};
  MXJIT_CU(cuGraphInstantiateWithFlags, &exec, graph, 0);
  for (std::int64_t count : {10, 64, 3}) {
    SCOPED_TRACE(fmt::format("row count {}", count));
    buffers.set_count(count);
    buffers.aq.fill(poison, stream());
    buffers.scales.fill(poison, stream());
    MXJIT_CU(cuGraphLaunch, exec, stream());
    MXJIT_CU(cuStreamSynchronize, stream());
    buffers.check(c, host_h, count);
  }
  MXJIT_CU(cuGraphExecDestroy, exec);
  MXJIT_CU(cuGraphDestroy, graph);
}

// ---- combine ----------------------------------------------------------------------------------

struct CombineCase {
  DType dtype;
  std::int64_t tokens, hidden;
  int top_k;
  double dropped;               // fraction of pairs with pair_row -1
  std::int64_t y_pad = 0;       // extra elements per y row
  std::int64_t out_pad = 0;     // extra elements per out row (must stay poisoned)
};

std::string describe(const CombineCase& c) {
  return fmt::format("{} T={} H={} k={} dropped={} y_pad={} out_pad={}", to_string(c.dtype), c.tokens, c.hidden,
                     c.top_k, c.dropped, c.y_pad, c.out_pad);
}

void check_combine(const CombineCase& c, CUstream stream) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE(describe(c) + fmt::format(" seed={}", seed));
  std::mt19937_64 rng(seed);
  const std::int64_t pairs = c.tokens * c.top_k, y_rows = pairs, y_stride = c.hidden + c.y_pad;
  const std::int64_t out_stride = c.hidden + c.out_pad;

  // Expert outputs: gaussian rows of varied magnitude (finite; sums stay finite in fp16 too).
  std::vector<std::uint16_t> y(static_cast<std::size_t>(y_rows * y_stride));
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_int_distribution<int> binade(-10, 8);
  for (std::int64_t r = 0; r < y_rows; ++r) {
    const float scale = std::ldexp(1.f, binade(rng));
    for (std::int64_t h = 0; h < y_stride; ++h) {
      const float v = normal(rng) * scale;
      y[r * y_stride + h] = c.dtype == DType::bf16 ? reference::float_to_bf16(v) : reference::float_to_fp16(v);
    }
  }
  // Each pair at its own grouped row (a shuffle), some dropped (-1), a few pointing past y (skipped),
  // and (given several tokens) the last token with every pair dropped.
  std::vector<std::int32_t> pair_row(static_cast<std::size_t>(pairs));
  std::iota(pair_row.begin(), pair_row.end(), 0);
  std::shuffle(pair_row.begin(), pair_row.end(), rng);
  std::bernoulli_distribution drop(c.dropped);
  for (std::int64_t i = 0; i < pairs; ++i) {
    if (drop(rng) || (c.tokens > 1 && i >= (c.tokens - 1) * c.top_k)) pair_row[i] = -1;
    else if (i % 101 == 50) pair_row[i] = i % 2 ? static_cast<std::int32_t>(y_rows) : INT_MAX;
  }
  std::vector<float> weights(static_cast<std::size_t>(pairs));
  std::uniform_real_distribution<float> weight(0.f, 1.f);
  for (float& w : weights) w = weight(rng);
  const std::vector<std::uint16_t> want = reference::moe_combine(y.data(), c.dtype, y_rows, c.hidden, y_stride,
                                                                 pair_row.data(), weights.data(), c.tokens, c.top_k);

  const runtime::DeviceBuffer y_dev = to_device(y), rows_dev = to_device(pair_row), w_dev = to_device(weights);
  runtime::DeviceBuffer out(std::max<std::int64_t>(c.tokens * out_stride * 2, 16));
  out.fill(poison, stream);
  TensorView y_view = TensorView::contiguous(y_dev.get(), c.dtype, {y_rows, c.hidden});
  y_view.strides[0] = y_stride;
  TensorView out_view = TensorView::contiguous(out.get(), c.dtype, {c.tokens, c.hidden});
  out_view.strides[0] = out_stride;
  ops::launch_moe_combine(y_view, rows_dev.get(),
                          TensorView::contiguous(w_dev.get(), DType::f32, {c.tokens, c.top_k}), out_view, stream);
  MXJIT_CU(cuStreamSynchronize, stream);
  const auto got = from_device<std::uint16_t>(out, static_cast<std::size_t>(c.tokens * out_stride));

  const std::uint16_t poisoned = poison << 8 | poison;
  int reported = 0;
  for (std::int64_t t = 0; t < c.tokens && reported < 10; ++t)
    for (std::int64_t h = 0; h < out_stride && reported < 10; ++h) {
      const std::uint16_t g = got[t * out_stride + h], w = h < c.hidden ? want[t * c.hidden + h] : poisoned;
      if (g != w) {
        ADD_FAILURE() << fmt::format("out[{}, {}]: got {:#06x}, want {:#06x}", t, h, g, w);
        ++reported;
      }
    }
}

class MoeCombineGpu : public GpuTest, public ::testing::WithParamInterface<DType> {};

TEST_P(MoeCombineGpu, BitExactWithDroppedPairs) {
  const DType d = GetParam();
  for (const CombineCase& c : {CombineCase{d, 1, 7168, 8, 0.2}, CombineCase{d, 5, 8, 1, 0.3},
                               CombineCase{d, 37, 4096, 2, 0.25}, CombineCase{d, 300, 1024, 11, 0.1},
                               CombineCase{d, 64, 2048, 32, 0.5}, CombineCase{d, 2, 64, 8, 1.0}})
    check_combine(c, stream());
}

TEST_P(MoeCombineGpu, StridedRowsAndMoreTokensThanOneGridColumn) {
  const DType d = GetParam();
  check_combine({d, 33, 1032, 4, 0.2, 8, 16}, stream());  // padded y and out rows; out padding untouched
  check_combine({d, 70000, 16, 2, 0.2}, stream());         // tokens past the 65535 CTAs of grid y
}

INSTANTIATE_TEST_SUITE_P(OutputTypes, MoeCombineGpu, ::testing::Values(DType::bf16, DType::fp16),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace mxjit::testing
