// The MXFP8 GEMM and the linear method beside cuBLASLt bf16 and fp8 (per-tensor) on the same shapes,
// in the same run: Llama-3-8B and Llama-3-70B TP=8 projections at decode and prefill batch sizes.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "cublaslt_baseline.hpp"
#include "device_timer.hpp"
#include "gpu_session.hpp"
#include "mxjit/gemm.hpp"
#include "mxjit/linear.hpp"
#include "ops/gemm.hpp"
#include "random_data.hpp"

namespace mxjit::bench {
namespace {

// Random pre-quantized GEMM operands x [m, k], W [n, k] (scale rows padded to 4 bytes) and a bf16 output.
struct GemmOperands {
  runtime::DeviceBuffer a, a_scales, b, b_scales, out;
  TensorView a_view, as_view, b_view, bs_view, out_view;
  GemmOperands(std::int64_t m, std::int64_t n, std::int64_t k, std::mt19937& rng) {
    const std::int64_t sstride = (k / 32 + 3) / 4 * 4;
    a = random_bytes(m * k, false, rng);
    a_scales = random_bytes(m * sstride, true, rng);
    b = random_bytes(n * k, false, rng);
    b_scales = random_bytes(n * sstride, true, rng);
    out = runtime::DeviceBuffer(static_cast<std::size_t>(m * n * 2));
    a_view = TensorView::contiguous(a.get(), DType::e4m3, {m, k});
    as_view = scale_view(a_scales.get(), m, k);
    b_view = TensorView::contiguous(b.get(), DType::e4m3, {n, k});
    bs_view = scale_view(b_scales.get(), n, k);
    out_view = TensorView::contiguous(out.get(), DType::bf16, {m, n});
  }
};

// The weights (N, K).
constexpr std::pair<std::int64_t, std::int64_t> llama_weights[] = {
    {6144, 4096}, {4096, 4096}, {28672, 4096}, {4096, 14336},  // Llama-3-8B
    {1280, 8192}, {8192, 1024}, {7168, 8192}, {8192, 3584},    // Llama-3-70B, TP=8
};

void BM_Linear(benchmark::State& state) {
  GpuSession* gpu = GpuSession::get(state);
  if (!gpu) return;
  const std::int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const CUstream stream = gpu->stream->get();
  std::mt19937 rng(7);
  const GemmOperands g(m, n, k, rng);  // the GEMM alone on pre-quantized operands
  runtime::DeviceBuffer workspace(std::max<std::uint64_t>(gemm_mxfp8_workspace_bytes(m, n, k), 16));
  workspace.fill(0, stream);
  // The linear method end to end: quantize x, GEMM.
  Mxfp8Linear linear(k, {n}, k, n, DType::bf16, {.max_tokens = m});
  {
    auto w = random_bf16(static_cast<std::size_t>(n * k), rng);
    linear.load_weight(w.get(), stream);
    linear.process_weights_after_loading(stream);
  }
  auto x = random_bf16(static_cast<std::size_t>(m * k), rng);
  const TensorView x_view = TensorView::contiguous(x.get(), DType::bf16, {m, k});
  CublasLtGemm bf16(BaselineType::bf16, m, n, k, stream), fp8(BaselineType::fp8_per_tensor, m, n, k, stream);

  DeviceTimer timer(stream);
  const int samples = m >= 2048 ? 20 : 50;
  double gemm_ms = 0, linear_ms = 0, bf16_ms = 0, fp8_ms = 0, copy = 0;
  for (auto _ : state) {
    gemm_ms = timer.median_ms([&] {
      gemm_mxfp8(g.a_view, g.as_view, g.b_view, g.bs_view, nullptr, g.out_view, workspace.get(), workspace.size(),
                 stream);
    }, samples);
    linear_ms = timer.median_ms([&] { linear.apply(x_view, nullptr, g.out_view, stream); }, samples);
    bf16_ms = timer.median_ms([&] { bf16.run(); }, samples);
    fp8_ms = timer.median_ms([&] { fp8.run(); }, samples);
    copy = copy_tbps(timer, stream);
    state.SetIterationTime(gemm_ms * 1e-3);
  }
  const double flop = 2.0 * m * n * k, weight_bytes = n * k * (1.0 + 1.0 / 32);
  state.counters["gemm_ms"] = gemm_ms;
  state.counters["linear_ms"] = linear_ms;
  state.counters["cublas_bf16_ms"] = bf16_ms;
  state.counters["cublas_fp8_ms"] = fp8_ms;
  state.counters["gemm_TFLOPs"] = flop / (gemm_ms * 1e-3) / 1e12;
  state.counters["gemm_weight_TBps"] = weight_bytes / (gemm_ms * 1e-3) / 1e12;
  state.counters["copy_TBps"] = copy;
  state.counters["gemm_ratio_to_copy"] = weight_bytes / (gemm_ms * 1e-3) / 1e12 / copy;
  state.counters["speedup_vs_bf16"] = bf16_ms / gemm_ms;
  state.counters["linear_speedup_vs_bf16"] = bf16_ms / linear_ms;
  state.counters["speedup_vs_fp8"] = fp8_ms / gemm_ms;
}

// Every decode tile (portable mma.sync and sm_90's TMA kernel) on decode shapes, beside the copy
// bandwidth and cuBLASLt bf16 of the same run: the sweep that picks the defaults.
void BM_GemmDecodeTile(benchmark::State& state) {
  GpuSession* gpu = GpuSession::get(state);
  if (!gpu) return;
  const int tile = static_cast<int>(state.range(0));
  const ops::GemmFamily family = ops::gemm_tiles[tile].family;
  const std::int64_t m = state.range(1), n = state.range(2), k = state.range(3);
  if (m > ops::gemm_tiles[tile].bn) return state.SkipWithError("tile too narrow for M");
  const runtime::DeviceInfo& info = runtime::device_info(0);
  if (!ops::gemm_family_supported(family, info.arch)) return state.SkipWithError("not on this GPU");
  const CUstream stream = gpu->stream->get();
  std::mt19937 rng(11);
  const GemmOperands g(m, n, k, rng);
  const ops::GemmPlan plan = ops::plan_gemm(family, m, n, k, info.sm_count, info.smem_per_sm, tile);
  runtime::DeviceBuffer workspace(std::max<std::uint64_t>(plan.workspace_bytes, 16));
  workspace.fill(0, stream);
  CublasLtGemm bf16(BaselineType::bf16, m, n, k, stream);
  DeviceTimer timer(stream);
  double ms = 0, copy = 0, bf16_ms = 0;
  for (auto _ : state) {
    ms = timer.median_ms([&] {
      ops::launch_gemm(family, g.a_view, g.as_view, g.b_view, g.bs_view, nullptr, g.out_view, workspace.get(),
                       workspace.size(), stream, tile);
    });
    bf16_ms = timer.median_ms([&] { bf16.run(); });
    copy = copy_tbps(timer, stream);
    state.SetIterationTime(ms * 1e-3);
  }
  const double weight_tbs = n * k * (1.0 + 1.0 / 32) / (ms * 1e-3) / 1e12;
  state.SetLabel(ops::gemm_tiles[tile].name());
  state.counters["gemm_ms"] = ms;
  state.counters["splits"] = family == ops::GemmFamily::tma_decode ? plan.decode.ctas : plan.splits;
  state.counters["weight_TBps"] = weight_tbs;
  state.counters["ratio_to_copy"] = weight_tbs / copy;
  state.counters["speedup_vs_bf16"] = bf16_ms / ms;
}

void decode_tiles(benchmark::internal::Benchmark* b) {
  for (int tile = 0; tile < static_cast<int>(std::size(ops::gemm_tiles)); ++tile) {
    const ops::GemmTile& t = ops::gemm_tiles[tile];
    if (t.family == ops::GemmFamily::wgmma || !t.swap_ab) continue;
    for (std::int64_t m : {1, 16})
      for (auto [n, k] : {std::pair<std::int64_t, std::int64_t>{28672, 4096}, {4096, 14336}, {6144, 4096}, {4096, 4096}})
        if (m <= t.bn) b->Args({tile, m, n, k});
    // Size probe: four times the largest Llama-3-8B weight (448 MiB). On H100 every decode kernel streams
    // it at 0.75-0.91 of copy against 0.59-0.70 for 112 MiB: a fixed cost of 16-22 us a launch.
    b->Args({tile, 1, 4 * 28672, 4096});
  }
}
BENCHMARK(BM_GemmDecodeTile)->Apply(decode_tiles)->ArgNames({"tile", "M", "N", "K"})->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);

// The read-only reference for the decode kernels: one sweep over the bytes a decode GEMM streams (the
// weight and its scales: 16, 112 and 448 MiB of weights), every SM busy, beside the copy bandwidth: is
// the fixed cost the decode kernels pay a launch theirs, or any read's of that size?
void BM_ReadSweep(benchmark::State& state) {
  GpuSession* gpu = GpuSession::get(state);
  if (!gpu) return;
  const std::size_t bytes = static_cast<std::size_t>(state.range(0)) / 32 * 33 / 16 * 16;
  const CUstream stream = gpu->stream->get();
  runtime::DeviceBuffer data(bytes);
  data.fill(0x5A, stream);
  DeviceTimer timer(stream);
  double ms = 0, copy = 0;
  for (auto _ : state) {
    ms = timer.median_ms([&] { timer.sweep(data.get(), bytes); });
    copy = copy_tbps(timer, stream);
    state.SetIterationTime(ms * 1e-3);
  }
  state.counters["read_ms"] = ms;
  state.counters["read_TBps"] = bytes / (ms * 1e-3) / 1e12;
  state.counters["ratio_to_copy"] = bytes / (ms * 1e-3) / 1e12 / copy;
}
BENCHMARK(BM_ReadSweep)->ArgName("weight_bytes")->Arg(4096LL * 4096)->Arg(28672LL * 4096)->Arg(4 * 28672LL * 4096)
    ->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);

// The exact Hopper family (bf16 wgmma on dequantized tiles), every tile, at prefill sizes, beside
// cuBLASLt bf16 on the same shapes in the same run.
void BM_GemmWgmmaBf16(benchmark::State& state) {
  GpuSession* gpu = GpuSession::get(state);
  if (!gpu) return;
  const runtime::DeviceInfo& info = runtime::device_info(0);
  if (!ops::gemm_family_supported(ops::GemmFamily::wgmma_bf16, info.arch)) return state.SkipWithError("needs sm_90a");
  const int tile = static_cast<int>(state.range(0));
  const std::int64_t m = state.range(1), n = state.range(2), k = state.range(3);
  const CUstream stream = gpu->stream->get();
  std::mt19937 rng(13);
  const GemmOperands g(m, n, k, rng);  // scale bytes 120..130: the dequantizing path, no fallback
  const ops::GemmPlan plan = ops::plan_gemm(ops::GemmFamily::wgmma_bf16, m, n, k, info.sm_count, info.smem_per_sm, tile);
  runtime::DeviceBuffer workspace(std::max<std::uint64_t>(plan.workspace_bytes, 16));
  workspace.fill(0, stream);
  CublasLtGemm bf16(BaselineType::bf16, m, n, k, stream);
  DeviceTimer timer(stream);
  double ms = 0, bf16_ms = 0;
  for (auto _ : state) {
    ms = timer.median_ms([&] {
      ops::launch_gemm(ops::GemmFamily::wgmma_bf16, g.a_view, g.as_view, g.b_view, g.bs_view, nullptr, g.out_view,
                       workspace.get(), workspace.size(), stream, tile);
    }, 20);
    bf16_ms = timer.median_ms([&] { bf16.run(); }, 20);
    state.SetIterationTime(ms * 1e-3);
  }
  state.SetLabel(ops::gemm_tiles[tile].name());
  state.counters["gemm_ms"] = ms;
  state.counters["cublas_bf16_ms"] = bf16_ms;
  state.counters["gemm_TFLOPs"] = 2.0 * m * n * k / (ms * 1e-3) / 1e12;
  state.counters["speedup_vs_bf16"] = bf16_ms / ms;
  state.counters["splits"] = plan.splits;
}

void wgmma_bf16_tiles(benchmark::internal::Benchmark* b) {
  for (int tile = 0; tile < static_cast<int>(std::size(ops::gemm_tiles)); ++tile) {
    if (ops::gemm_tiles[tile].family != ops::GemmFamily::wgmma_bf16) continue;
    for (std::int64_t m : {2048, 8192})
      for (auto [n, k] : llama_weights) b->Args({tile, m, n, k});
  }
}
BENCHMARK(BM_GemmWgmmaBf16)->Apply(wgmma_bf16_tiles)->ArgNames({"tile", "M", "N", "K"})->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);

void shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t m : {1, 16, 64, 256, 2048, 8192})
    for (auto [n, k] : llama_weights) b->Args({m, n, k});
}
BENCHMARK(BM_Linear)->Apply(shapes)->ArgNames({"M", "N", "K"})->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);

// Decode as an engine runs it: layer after layer, each launch reading another weight (`copies` of them,
// together at least three times the L2, so no launch finds its weight cached), timed over the whole
// sequence and divided by its launches. The event and launch latency that BM_Linear's one-launch
// timing pays every sample is paid here once per sequence; what remains per launch is the kernel and
// the gap before the next. The GEMM alone, the linear method (quantize + GEMM) and cuBLASLt bf16; and
// the host's time per call of the linear method and of cuBLASLt (an engine without CUDA graphs is
// host-bound where that exceeds the device time).
void BM_DecodeBackToBack(benchmark::State& state) {
  GpuSession* gpu = GpuSession::get(state);
  if (!gpu) return;
  const std::int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const CUstream stream = gpu->stream->get();
  const int copies = std::max(2, static_cast<int>((3 * std::int64_t{runtime::device_info(0).l2_bytes} + n * k - 1) / (n * k)));
  const int launches = 2 * copies;
  std::mt19937 rng(13);
  std::vector<std::unique_ptr<GemmOperands>> operands;
  std::vector<std::unique_ptr<Mxfp8Linear>> layers;
  std::vector<std::unique_ptr<CublasLtGemm>> bf16;
  for (int c = 0; c < copies; ++c) {
    operands.push_back(std::make_unique<GemmOperands>(m, n, k, rng));
    layers.push_back(std::make_unique<Mxfp8Linear>(k, std::vector<std::int64_t>{n}, k, n, DType::bf16,
                                                   Mxfp8Linear::Options{.max_tokens = m}));
    auto w = random_bf16(static_cast<std::size_t>(n * k), rng);
    layers.back()->load_weight(w.get(), stream);
    layers.back()->process_weights_after_loading(stream);
    bf16.push_back(std::make_unique<CublasLtGemm>(BaselineType::bf16, m, n, k, stream));
  }
  runtime::DeviceBuffer workspace(std::max<std::uint64_t>(gemm_mxfp8_workspace_bytes(m, n, k), 16));
  workspace.fill(0, stream);
  auto x = random_bf16(static_cast<std::size_t>(m * k), rng);
  const TensorView x_view = TensorView::contiguous(x.get(), DType::bf16, {m, k});

  DeviceTimer timer(stream);
  const auto per_launch_us = [&](const std::function<void(int)>& launch) {
    return timer.median_ms([&] { for (int i = 0; i < launches; ++i) launch(i % copies); }, 20) * 1e3 / launches;
  };
  double gemm_us = 0, linear_us = 0, bf16_us = 0, copy = 0, linear_host_us = 0, bf16_host_us = 0;
  for (auto _ : state) {
    gemm_us = per_launch_us([&](int c) {
      const GemmOperands& g = *operands[c];
      gemm_mxfp8(g.a_view, g.as_view, g.b_view, g.bs_view, nullptr, g.out_view, workspace.get(), workspace.size(), stream);
    });
    linear_us = per_launch_us([&](int c) { layers[c]->apply(x_view, nullptr, operands[c]->out_view, stream); });
    bf16_us = per_launch_us([&](int c) { bf16[c]->run(); });
    linear_host_us = median_host_us([&] { layers[0]->apply(x_view, nullptr, operands[0]->out_view, stream); }, stream);
    bf16_host_us = median_host_us([&] { bf16[0]->run(); }, stream);
    copy = copy_tbps(timer, stream);
    state.SetIterationTime(gemm_us * 1e-6);
  }
  const double weight_tbs = n * k * (1.0 + 1.0 / 32) / (gemm_us * 1e-6) / 1e12;
  state.counters["copies"] = copies;
  state.counters["gemm_us"] = gemm_us;
  state.counters["linear_us"] = linear_us;
  state.counters["cublas_bf16_us"] = bf16_us;
  state.counters["gemm_ratio_to_copy"] = weight_tbs / copy;
  state.counters["speedup_vs_bf16"] = bf16_us / gemm_us;
  state.counters["linear_speedup_vs_bf16"] = bf16_us / linear_us;
  state.counters["linear_host_us"] = linear_host_us;
  state.counters["cublas_bf16_host_us"] = bf16_host_us;
}

void decode_shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t m : {1, 16})
    for (auto [n, k] : llama_weights) b->Args({m, n, k});
}
BENCHMARK(BM_DecodeBackToBack)->Apply(decode_shapes)->ArgNames({"M", "N", "K"})->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mxjit::bench
