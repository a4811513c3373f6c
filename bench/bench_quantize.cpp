// Quantize bandwidth beside a device-to-device copy of the input's bytes, measured in the same run.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "device_timer.hpp"
#include "gpu_session.hpp"
#include "mxjit/quantize.hpp"
#include "ops/quantize.hpp"
#include "ops/reference/mxfp8_reference.hpp"

namespace mxjit::bench {
namespace {

void BM_Quantize(benchmark::State& state, std::int64_t batches, std::int64_t rows, std::int64_t cols,
                 ScaleLayout layout, int unroll) {
  GpuSession* gpu = GpuSession::get(state);
  if (!gpu) return;
  const CUstream stream = gpu->stream->get();
  const std::size_t n = static_cast<std::size_t>(batches * rows * cols);
  runtime::DeviceBuffer in(2 * n), copy_dst(2 * n), q(n), scales(mxfp8_scale_bytes(batches, rows, cols, layout));
  {  // random normal bf16 data (never zeros: they can run faster than real data)
    std::vector<std::uint16_t> host(1 << 22);
    std::mt19937 rng(42);
    std::normal_distribution<float> normal;
    for (auto& h : host) h = reference::float_to_bf16(normal(rng));
    for (std::size_t off = 0; off < 2 * n; off += 2 * host.size())
      in.upload(host.data(), std::min(2 * host.size(), 2 * n - off), off);
  }
  const auto in_view = TensorView::contiguous(in.get(), DType::bf16, {batches, rows, cols});
  const auto q_view = TensorView::contiguous(q.get(), DType::e4m3, {batches, rows, cols});
  const auto s_view = layout == ScaleLayout::linear
                          ? TensorView::contiguous(scales.get(), DType::e8m0, {batches, rows, cols / 32})
                          : TensorView::contiguous(scales.get(), DType::e8m0, {static_cast<std::int64_t>(scales.size())});
  DeviceTimer timer(stream);
  double quantize_ms = 0, copy_ms = 0;
  for (auto _ : state) {
    copy_ms = timer.median_ms([&] { MXJIT_CU(cuMemcpyDtoDAsync, copy_dst.get(), in.get(), 2 * n, stream); });
    quantize_ms = timer.median_ms(
        [&] { ops::launch_quantize(in_view, q_view, s_view, {layout, ScaleRule::rceil}, unroll, stream); });
    state.SetIterationTime(quantize_ms / 1e3);
  }
  const double moved = 2.0 * n + n + scales.size();  // bf16 in, e4m3 out, scales out
  const double quant_tbs = moved / (quantize_ms * 1e-3) / 1e12;
  const double copy_tbs = 2.0 * 2 * n / (copy_ms * 1e-3) / 1e12;  // bytes read + written
  state.counters["quantize_ms"] = quantize_ms;
  state.counters["copy_ms"] = copy_ms;
  state.counters["quantize_TBps"] = quant_tbs;
  state.counters["copy_TBps"] = copy_tbs;
  state.counters["ratio_to_copy"] = quant_tbs / copy_tbs;
}

constexpr int default_unroll = ops::quantize_default_unroll;

#define MXJIT_QUANTIZE_BENCH(name, b, r, k)                                                                  \
  BENCHMARK_CAPTURE(BM_Quantize, name##_linear, b, r, k, ScaleLayout::linear, default_unroll)               \
      ->UseManualTime()->Iterations(1);                                                                     \
  BENCHMARK_CAPTURE(BM_Quantize, name##_swizzled, b, r, k, ScaleLayout::swizzled_128x4, default_unroll)     \
      ->UseManualTime()->Iterations(1);

MXJIT_QUANTIZE_BENCH(8192x8192, 1, 8192, 8192)
MXJIT_QUANTIZE_BENCH(16384x7168, 1, 16384, 7168)
MXJIT_QUANTIZE_BENCH(experts_128x1536x2048, 128, 1536, 2048)

// The unroll sweep that picked quantize_default_unroll.
BENCHMARK_CAPTURE(BM_Quantize, unroll1_8192x8192_linear, 1, 8192, 8192, ScaleLayout::linear, 1)->UseManualTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_Quantize, unroll2_8192x8192_linear, 1, 8192, 8192, ScaleLayout::linear, 2)->UseManualTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_Quantize, unroll4_8192x8192_linear, 1, 8192, 8192, ScaleLayout::linear, 4)->UseManualTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_Quantize, unroll8_8192x8192_linear, 1, 8192, 8192, ScaleLayout::linear, 8)->UseManualTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_Quantize, unroll1_experts_linear, 128, 1536, 2048, ScaleLayout::linear, 1)->UseManualTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_Quantize, unroll4_experts_linear, 128, 1536, 2048, ScaleLayout::linear, 4)->UseManualTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_Quantize, unroll1_16384x7168_linear, 1, 16384, 7168, ScaleLayout::linear, 1)->UseManualTime()->Iterations(1);

}  // namespace
}  // namespace mxjit::bench
