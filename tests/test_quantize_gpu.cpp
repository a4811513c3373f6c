// MXFP8 quantize on the GPU, bit-exact against the CPU reference for every output byte.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "gpu_fixture.hpp"
#include "mxjit/quantize.hpp"
#include "ops/quantize.hpp"
#include "ops/reference/mxfp8_reference.hpp"
#include "test_data.hpp"

namespace mxjit::testing {
namespace {

struct Case {
  std::int64_t batches, rows, cols;
  std::int64_t row_pad = 0;  // extra elements per input row (strided rows)
};

struct Variant {
  DType dtype;
  ScaleLayout layout;
  ScaleRule rule;
};

std::string describe(const Variant& v, const Case& c, Distribution d, std::uint64_t seed) {
  return fmt::format("{} {} {} [{}, {}, {}] row_pad={} {} seed={}", to_string(v.dtype), to_string(v.layout),
                     to_string(v.rule), c.batches, c.rows, c.cols, c.row_pad, to_string(d), seed);
}

// Runs one quantize on the GPU over poisoned outputs and compares every byte with the reference.
void check_against_reference(const Variant& v, const Case& c, Distribution dist, CUstream stream,
                             int unroll = ops::quantize_default_unroll) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE(describe(v, c, dist, seed) + fmt::format(" unroll={}", unroll));
  std::mt19937_64 rng(seed);
  const std::int64_t row_stride = c.cols + c.row_pad, batch_stride = c.rows * row_stride;
  const std::vector<std::uint16_t> host_in =
      make_input(v.dtype, static_cast<std::size_t>(c.batches * batch_stride), dist, rng);
  const reference::Mxfp8Tensor want = reference::quantize(host_in.data(), v.dtype, c.batches, c.rows, c.cols,
                                                          row_stride, batch_stride, v.layout, v.rule);

  runtime::DeviceBuffer in(host_in.size() * 2), q(want.q.size()), scales(want.scales.size());
  in.upload(host_in.data(), in.size());
  q.fill(0xCD, stream);  // poison: any byte the kernel fails to write shows up
  scales.fill(0xCD, stream);

  TensorView in_view = TensorView::contiguous(in.get(), v.dtype, {c.batches, c.rows, c.cols});
  in_view.strides = {batch_stride, row_stride, 1};
  const TensorView q_view = TensorView::contiguous(q.get(), DType::e4m3, {c.batches, c.rows, c.cols});
  const TensorView s_view =
      v.layout == ScaleLayout::linear
          ? TensorView::contiguous(scales.get(), DType::e8m0, {c.batches, c.rows, c.cols / 32})
          : TensorView::contiguous(scales.get(), DType::e8m0, {static_cast<std::int64_t>(want.scales.size())});
  ops::launch_quantize(in_view, q_view, s_view, {v.layout, v.rule}, unroll, stream);
  MXJIT_CU(cuStreamSynchronize, stream);

  std::vector<std::uint8_t> got_q(want.q.size()), got_s(want.scales.size());
  q.download(got_q.data(), got_q.size());
  scales.download(got_s.data(), got_s.size());
  int reported = 0;
  for (std::size_t i = 0; i < got_s.size() && reported < 5; ++i)
    if (got_s[i] != want.scales[i]) {
      ADD_FAILURE() << fmt::format("scale byte {}: got {:#04x}, want {:#04x}", i, got_s[i], want.scales[i]);
      ++reported;
    }
  for (std::size_t i = 0; i < got_q.size() && reported < 10; ++i)
    if (got_q[i] != want.q[i]) {
      const std::size_t blk = i / 32;
      const std::size_t row = blk / (c.cols / 32), col = i % c.cols;
      const std::uint16_t x = host_in[(row / c.rows) * batch_stride + (row % c.rows) * row_stride + col];
      ADD_FAILURE() << fmt::format("q byte {} (block {}): got {:#04x}, want {:#04x}; input bits {:#06x}", i, blk,
                                   got_q[i], want.q[i], x);
      ++reported;
    }
}

std::vector<Variant> all_variants() {
  std::vector<Variant> out;
  for (DType d : {DType::bf16, DType::fp16})
    for (ScaleLayout l : {ScaleLayout::linear, ScaleLayout::swizzled_128x4})
      for (ScaleRule r : {ScaleRule::rceil, ScaleRule::floor}) out.push_back({d, l, r});
  return out;
}

class QuantizeGpu : public GpuTest, public ::testing::WithParamInterface<Variant> {};

TEST_P(QuantizeGpu, OddAndAlignedShapesAllDistributions) {
  const Case cases[] = {{1, 1, 32},  {1, 7, 96},     {1, 128, 4096}, {1, 1000, 7168},
                        {2, 1, 32},  {3, 130, 320},  {1, 33, 2048},  {4, 129, 160}};
  for (const Case& c : cases)
    for (Distribution d : {Distribution::gaussian_wide, Distribution::random_bits, Distribution::edge_blocks})
      check_against_reference(GetParam(), c, d, stream());
}

TEST_P(QuantizeGpu, StridedRowsAndBatches) {
  check_against_reference(GetParam(), {3, 65, 256, 64}, Distribution::gaussian_wide, stream());
  check_against_reference(GetParam(), {2, 17, 32, 8}, Distribution::edge_blocks, stream());
}

TEST_P(QuantizeGpu, LargeBatchedExpertWeights) {
  check_against_reference(GetParam(), {16, 1536, 2048}, Distribution::gaussian_wide, stream());
}

INSTANTIATE_TEST_SUITE_P(AllVariants, QuantizeGpu, ::testing::ValuesIn(all_variants()),
                         [](const auto& info) {
                           return fmt::format("{}_{}_{}", to_string(info.param.dtype), to_string(info.param.layout),
                                              to_string(info.param.rule));
                         });

using QuantizeGpuRuntime = GpuTest;

TEST_F(QuantizeGpuRuntime, EveryUnrollIsExact) {
  for (int unroll : ops::quantize_unrolls)
    for (const Variant& v : all_variants()) {
      check_against_reference(v, {2, 129, 1056}, Distribution::edge_blocks, stream(), unroll);
      check_against_reference(v, {1, 3, 32}, Distribution::random_bits, stream(), unroll);
    }
}

TEST_F(QuantizeGpuRuntime, TwoThreadsTwoStreams) {
  std::vector<std::thread> threads;
  std::vector<std::string> failures(2);
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      try {
        context_->make_current();
        runtime::Stream own;
        for (int i = 0; i < 5; ++i)
          check_against_reference({t ? DType::fp16 : DType::bf16, ScaleLayout::swizzled_128x4, ScaleRule::rceil},
                                  {2, 300, 1024}, Distribution::gaussian_wide, own.get());
      } catch (const std::exception& e) {
        failures[t] = e.what();
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures[0], "");
  EXPECT_EQ(failures[1], "");
}

TEST_F(QuantizeGpuRuntime, LinearScalesWithPaddedRows) {
  // K = 96: 3 scales per row stored with a row stride of 4 (what the GEMM reads); padding untouched.
  const std::int64_t batches = 2, rows = 37, cols = 96, stride = 4;
  std::mt19937_64 rng(fresh_seed());
  auto host_in = make_input(DType::fp16, batches * rows * cols, Distribution::edge_blocks, rng);
  const auto want = reference::quantize(host_in.data(), DType::fp16, batches, rows, cols, cols, rows * cols,
                                        ScaleLayout::linear, ScaleRule::rceil);
  runtime::DeviceBuffer in(host_in.size() * 2), q(want.q.size()), scales(batches * rows * stride);
  in.upload(host_in.data(), in.size());
  scales.fill(0xCD, stream());
  TensorView s_view = TensorView::contiguous(scales.get(), DType::e8m0, {batches, rows, cols / 32});
  s_view.strides = {rows * stride, stride, 1};
  quantize_mxfp8(TensorView::contiguous(in.get(), DType::fp16, {batches, rows, cols}),
                 TensorView::contiguous(q.get(), DType::e4m3, {batches, rows, cols}), s_view, {}, stream());
  MXJIT_CU(cuStreamSynchronize, stream());
  std::vector<std::uint8_t> got_q(want.q.size()), got_s(scales.size());
  q.download(got_q.data(), got_q.size());
  scales.download(got_s.data(), got_s.size());
  EXPECT_TRUE(got_q == want.q);
  for (std::int64_t r = 0; r < batches * rows; ++r) {
    for (std::int64_t c = 0; c < cols / 32; ++c) ASSERT_EQ(got_s[r * stride + c], want.scales[r * (cols / 32) + c]) << r;
    ASSERT_EQ(got_s[r * stride + 3], 0xCD) << "padding byte of row " << r << " was written";
  }
}

TEST_F(QuantizeGpuRuntime, CapturedInACudaGraph) {
  const std::int64_t rows = 257, cols = 512;
  std::mt19937_64 rng(fresh_seed());
  auto host_in = make_input(DType::bf16, rows * cols, Distribution::gaussian_wide, rng);
  const auto want = reference::quantize(host_in.data(), DType::bf16, 1, rows, cols, cols, rows * cols,
                                        ScaleLayout::linear, ScaleRule::rceil);
  runtime::DeviceBuffer in(host_in.size() * 2), q(want.q.size()), scales(want.scales.size());
  in.upload(host_in.data(), in.size());
  const auto in_view = TensorView::contiguous(in.get(), DType::bf16, {rows, cols});
  const auto q_view = TensorView::contiguous(q.get(), DType::e4m3, {rows, cols});
  const auto s_view = TensorView::contiguous(scales.get(), DType::e8m0, {rows, cols / 32});
  quantize_mxfp8(in_view, q_view, s_view, {}, stream());  // first call compiles/loads outside the capture
  MXJIT_CU(cuStreamSynchronize, stream());
  q.fill(0xCD, stream());
  scales.fill(0xCD, stream());
  MXJIT_CU(cuStreamSynchronize, stream());

  CUgraph graph{};
  MXJIT_CU(cuStreamBeginCapture, stream(), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  quantize_mxfp8(in_view, q_view, s_view, {}, stream());
  MXJIT_CU(cuStreamEndCapture, stream(), &graph);
  CUgraphExec exec{};
  MXJIT_CU(cuGraphInstantiateWithFlags, &exec, graph, 0);
  MXJIT_CU(cuGraphLaunch, exec, stream());
  MXJIT_CU(cuGraphLaunch, exec, stream());
  MXJIT_CU(cuStreamSynchronize, stream());
  std::vector<std::uint8_t> got_q(want.q.size()), got_s(want.scales.size());
  q.download(got_q.data(), got_q.size());
  scales.download(got_s.data(), got_s.size());
  EXPECT_TRUE(got_q == want.q);
  EXPECT_TRUE(got_s == want.scales);
  MXJIT_CU(cuGraphExecDestroy, exec);
  MXJIT_CU(cuGraphDestroy, graph);
}

}  // namespace
}  // namespace mxjit::testing
