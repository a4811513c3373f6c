// The linear method end to end on the GPU: weight processing bit-exact with the CPU quantizer, apply()
// within design.md's bound of an fp64 reference, CUDA-graph capture and replay.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "gpu_fixture.hpp"
#include "mxfp8_operands.hpp"
#include "mxjit/error.hpp"
#include "mxjit/linear.hpp"
#include "mxjit/mxjit.h"
#include "ops/reference/mxfp8_reference.hpp"
#include "test_data.hpp"

namespace mxjit::testing {
namespace {

std::vector<std::uint16_t> random_values(DType dtype, std::int64_t count, std::mt19937_64& rng) {
  std::vector<std::uint16_t> v(static_cast<std::size_t>(count));
  std::normal_distribution<float> normal;
  for (auto& x : v) x = dtype == DType::bf16 ? reference::float_to_bf16(normal(rng)) : reference::float_to_fp16(normal(rng));
  return v;
}

struct LinearCase {
  DType dtype;
  std::int64_t k;
  std::vector<std::int64_t> partitions;
  std::int64_t m;
};

class LinearGpu : public GpuTest, public ::testing::WithParamInterface<LinearCase> {};

TEST_P(LinearGpu, ProcessOnceThenApplyMatchesReference) {
  const LinearCase& c = GetParam();
  std::mt19937_64 rng(fresh_seed());
  Mxfp8Linear layer(c.k, c.partitions, c.k * 2, 1 << 20, c.dtype, {.max_tokens = 512});
  const std::int64_t n = layer.out_features();
  EXPECT_EQ(layer.weight().dtype, c.dtype);
  const auto w_host = random_values(c.dtype, n * c.k, rng);
  runtime::DeviceBuffer w_src(w_host.size() * 2);
  w_src.upload(w_host.data(), w_src.size());
  layer.load_weight(w_src.get(), stream());
  layer.process_weights_after_loading(stream());
  const std::uint64_t processed_at = layer.weight().data;
  layer.process_weights_after_loading(stream());  // idempotent: nothing happens
  EXPECT_EQ(layer.weight().data, processed_at);
  ASSERT_EQ(layer.weight().dtype, DType::e4m3);

  // The stored weight is bit-exact with the CPU quantizer.
  const Mxfp8Operand w = Mxfp8Operand::from_values(c.dtype, w_host, n, c.k);
  std::vector<std::uint8_t> q(static_cast<std::size_t>(n * c.k)), s(static_cast<std::size_t>(n * w.scale_stride));
  MXJIT_CU(cuMemcpyDtoH, q.data(), layer.weight().data, q.size());
  MXJIT_CU(cuMemcpyDtoH, s.data(), layer.weight_scale().data, s.size());
  EXPECT_TRUE(q == w.q);
  EXPECT_TRUE(s == w.scales);

  // apply() against the fp64 reference of the quantized x and W, with a bias.
  const auto x_host = random_values(c.dtype, c.m * c.k, rng), bias_host = random_values(c.dtype, n, rng);
  const Mxfp8Operand x = Mxfp8Operand::from_values(c.dtype, x_host, c.m, c.k);
  runtime::DeviceBuffer d_x(x_host.size() * 2), d_bias(bias_host.size() * 2), d_out(static_cast<std::size_t>(c.m * n * 2));
  d_x.upload(x_host.data(), d_x.size());
  d_bias.upload(bias_host.data(), d_bias.size());
  d_out.fill(0xFF, stream());
  const auto x_view = TensorView::contiguous(d_x.get(), c.dtype, {c.m, c.k});
  const auto bias_view = TensorView::contiguous(d_bias.get(), c.dtype, {n});
  const auto out_view = TensorView::contiguous(d_out.get(), c.dtype, {c.m, n});
  layer.apply(x_view, &bias_view, out_view, stream());
  MXJIT_CU(cuStreamSynchronize, stream());
  std::vector<std::uint16_t> out(static_cast<std::size_t>(c.m * n));
  d_out.download(out.data(), out.size() * 2);
  const GemmCheck check = check_gemm(x, w, out, c.dtype, &bias_host, rng);
  EXPECT_EQ(check.failures, 0) << check.first_failure;

  // The same apply captured in a CUDA graph and replayed gives the same bits.
  d_out.fill(0xFF, stream());
  MXJIT_CU(cuStreamSynchronize, stream());
  CUgraph graph{};
  MXJIT_CU(cuStreamBeginCapture, stream(), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  layer.apply(x_view, &bias_view, out_view, stream());
  MXJIT_CU(cuStreamEndCapture, stream(), &graph);
  CUgraphExec exec{};
  MXJIT_CU(cuGraphInstantiateWithFlags, &exec, graph, 0);
  MXJIT_CU(cuGraphLaunch, exec, stream());
  MXJIT_CU(cuStreamSynchronize, stream());
  std::vector<std::uint16_t> replayed(out.size());
  d_out.download(replayed.data(), replayed.size() * 2);
  EXPECT_TRUE(replayed == out);
  MXJIT_CU(cuGraphExecDestroy, exec);
  MXJIT_CU(cuGraphDestroy, graph);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearGpu,
                         ::testing::Values(LinearCase{DType::bf16, 1024, {512, 256}, 1},
                                           LinearCase{DType::bf16, 4096, {1536, 512, 512}, 37},
                                           LinearCase{DType::fp16, 2048, {1000}, 300},
                                           LinearCase{DType::fp16, 96, {64, 32}, 16}));

// apply() launches its decode GEMM early (programmatic dependent launch on sm_90): back-to-back calls
// with new x and no host sync between them must each see their own quantized x, on the streaming kernel
// (N = 4096) and on tma_decode (N = 28672, 112 MiB of weight).
TEST_F(GpuTest, BackToBackDecodeAppliesSeeTheirOwnInput) {
  for (const std::int64_t n : {4096, 28672}) {
    SCOPED_TRACE(fmt::format("N = {}", n));
    const std::int64_t k = 4096, m = 1, calls = 3;
    std::mt19937_64 rng(fresh_seed());
    Mxfp8Linear layer(k, {n}, k, n, DType::bf16, {.max_tokens = 16});
    const auto w_host = random_values(DType::bf16, n * k, rng);
    runtime::DeviceBuffer w_src(w_host.size() * 2);
    w_src.upload(w_host.data(), w_src.size());
    layer.load_weight(w_src.get(), stream());
    layer.process_weights_after_loading(stream());
    MXJIT_CU(cuStreamSynchronize, stream());
    const Mxfp8Operand w = Mxfp8Operand::from_values(DType::bf16, w_host, n, k);
    std::vector<std::vector<std::uint16_t>> xs;
    runtime::DeviceBuffer d_x(static_cast<std::size_t>(calls * m * k * 2)), d_out(static_cast<std::size_t>(calls * m * n * 2));
    for (std::int64_t c = 0; c < calls; ++c) xs.push_back(random_values(DType::bf16, m * k, rng));
    for (std::int64_t c = 0; c < calls; ++c)
      MXJIT_CU(cuMemcpyHtoD, d_x.get() + static_cast<std::uint64_t>(c * m * k * 2), xs[c].data(), xs[c].size() * 2);
    d_out.fill(0xFF, stream());
    for (std::int64_t c = 0; c < calls; ++c)  // x_q and its scales are rewritten by every call
      layer.apply(TensorView::contiguous(d_x.get() + static_cast<std::uint64_t>(c * m * k * 2), DType::bf16, {m, k}),
                  nullptr,
                  TensorView::contiguous(d_out.get() + static_cast<std::uint64_t>(c * m * n * 2), DType::bf16, {m, n}),
                  stream());
    MXJIT_CU(cuStreamSynchronize, stream());
    for (std::int64_t c = 0; c < calls; ++c) {
      std::vector<std::uint16_t> out(static_cast<std::size_t>(m * n));
      MXJIT_CU(cuMemcpyDtoH, out.data(), d_out.get() + static_cast<std::uint64_t>(c * m * n * 2), out.size() * 2);
      const GemmCheck check = check_gemm(Mxfp8Operand::from_values(DType::bf16, xs[c], m, k), w, out, DType::bf16, nullptr, rng);
      EXPECT_EQ(check.failures, 0) << "call " << c << ": " << check.first_failure;
    }
  }
}

TEST_F(GpuTest, LinearApplyRejectsBadInputs) {
  Mxfp8Linear layer(64, {32}, 64, 32, DType::bf16, {.max_tokens = 4});
  runtime::DeviceBuffer buf(1 << 16);
  const auto out = TensorView::contiguous(buf.get(), DType::bf16, {4, 32});
  try {
    layer.apply(TensorView::contiguous(buf.get(), DType::bf16, {4, 64}), nullptr, out, stream());
    FAIL() << "apply before processing must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("before process_weights_after_loading"), std::string::npos);
  }
  layer.process_weights_after_loading(stream());
  EXPECT_THROW(layer.apply(TensorView::contiguous(buf.get(), DType::bf16, {5, 64}), nullptr, out, stream()), Error);
  EXPECT_THROW(layer.apply(TensorView::contiguous(buf.get(), DType::fp16, {4, 64}), nullptr, out, stream()), Error);
  EXPECT_THROW(layer.load_weight(buf.get(), stream()), Error);  // the bf16 weight is gone
}

// The C API drives the same layer: create, load, process, apply give the C++ layer's bits.
TEST_F(GpuTest, LinearThroughTheCApiMatchesCpp) {
  const std::int64_t k = 512, n = 384, m = 9;
  const int64_t parts[] = {256, 128};
  std::mt19937_64 rng(fresh_seed());
  const auto w_host = random_values(DType::bf16, n * k, rng), x_host = random_values(DType::bf16, m * k, rng);
  runtime::DeviceBuffer w(w_host.size() * 2), x(x_host.size() * 2), out_c(m * n * 2), out_cpp(m * n * 2);
  w.upload(w_host.data(), w.size());
  x.upload(x_host.data(), x.size());

  mxjit_linear* layer = nullptr;
  ASSERT_EQ(mxjit_linear_create(k, parts, 2, k, n, MXJIT_DTYPE_BF16, 64, &layer), MXJIT_OK) << mxjit_last_error();
  mxjit_tensor weight{};
  ASSERT_EQ(mxjit_linear_weight(layer, &weight), MXJIT_OK);
  EXPECT_EQ(weight.dtype, MXJIT_DTYPE_BF16);
  EXPECT_EQ(weight.shape[0], n);
  ASSERT_EQ(mxjit_linear_load_weight(layer, w.get(), stream()), MXJIT_OK) << mxjit_last_error();
  ASSERT_EQ(mxjit_linear_process_weights(layer, stream()), MXJIT_OK) << mxjit_last_error();
  ASSERT_EQ(mxjit_linear_weight(layer, &weight), MXJIT_OK);
  EXPECT_EQ(weight.dtype, MXJIT_DTYPE_E4M3);
  const mxjit_tensor x_c{x.get(), MXJIT_DTYPE_BF16, 2, {m, k, 0}, {k, 1, 0}};
  const mxjit_tensor out_t{out_c.get(), MXJIT_DTYPE_BF16, 2, {m, n, 0}, {n, 1, 0}};
  ASSERT_EQ(mxjit_linear_apply(layer, &x_c, nullptr, &out_t, stream()), MXJIT_OK) << mxjit_last_error();

  Mxfp8Linear cpp(k, {256, 128}, k, n, DType::bf16, {.max_tokens = 64});
  cpp.load_weight(w.get(), stream());
  cpp.process_weights_after_loading(stream());
  cpp.apply(TensorView::contiguous(x.get(), DType::bf16, {m, k}), nullptr,
            TensorView::contiguous(out_cpp.get(), DType::bf16, {m, n}), stream());
  MXJIT_CU(cuStreamSynchronize, stream());
  std::vector<std::uint16_t> a(m * n), b(m * n);
  out_c.download(a.data(), a.size() * 2);
  out_cpp.download(b.data(), b.size() * 2);
  EXPECT_TRUE(a == b);
  mxjit_linear_destroy(layer);
}

}  // namespace
}  // namespace mxjit::testing
