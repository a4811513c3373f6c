// JIT costs: a cold NVRTC compile, a warm disk-cache hit (with and without module load), the host
// time of a cached op dispatch beside a bare cuLaunchKernel of the same CUfunction, and of one TMA
// tensor-map encode (a decode GEMM launch encodes 2-4).
#include <benchmark/benchmark.h>

#include <chrono>
#include <filesystem>

#include "device_timer.hpp"
#include "gpu_session.hpp"
#include "jit/kernel_cache.hpp"
#include "jit/nvrtc_compiler.hpp"
#include "jit/runtime_state.hpp"
#include "mxjit/quantize.hpp"
#include "ops/quantize.hpp"
#include "runtime/tensor_map.hpp"

namespace mxjit::bench {
namespace {

jit::KernelSpec quantize_spec(const jit::Arch& arch) {
  return ops::quantize_kernel_spec(DType::bf16, ScaleLayout::swizzled_128x4, ScaleRule::rceil, arch);
}

jit::Arch bench_arch() {
  return runtime::gpu_available() ? runtime::device_info(0).arch : jit::Arch::parse("sm_90a");
}

void BM_ColdCompileQuantize(benchmark::State& state) {
  const jit::KernelSpec spec = quantize_spec(bench_arch());
  const auto options = jit::nvrtc_options(spec.arch, false);
  for (auto _ : state) benchmark::DoNotOptimize(jit::compile_cubin(spec, options, ""));
}
BENCHMARK(BM_ColdCompileQuantize)->Unit(benchmark::kMillisecond)->Iterations(10);

// A disk cache in a fresh temp dir holding the quantize kernel.
struct WarmDisk {
  std::string root = (std::filesystem::temp_directory_path() / "mxjit-bench-disk").string();
  jit::EnvConfig config;
  jit::DiskCache disk{root, {}, true};
  WarmDisk() {
    std::filesystem::remove_all(root);
    jit::KernelCache(config, disk).get(quantize_spec(bench_arch()));
  }
  ~WarmDisk() { std::filesystem::remove_all(root); }
};

void BM_WarmDiskHit(benchmark::State& state, bool load_module) {
  GpuSession* gpu = load_module ? GpuSession::get(state) : nullptr;
  if (load_module && !gpu) return;
  WarmDisk warm;
  const jit::KernelSpec spec = quantize_spec(bench_arch());
  for (auto _ : state) {
    jit::KernelCache fresh(warm.config, warm.disk);  // empty memory cache: the disk must serve it
    jit::Origin origin{};
    auto kernel = fresh.get(spec, &origin);
    if (origin != jit::Origin::disk) state.SkipWithError("expected a disk hit");
    if (load_module) runtime::Kernel loaded(kernel->cubin, kernel->lowered_name, "bench", 0, {256, 0});
  }
}
BENCHMARK_CAPTURE(BM_WarmDiskHit, key_and_read, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_WarmDiskHit, key_read_and_module_load, true)->Unit(benchmark::kMillisecond);

void BM_DispatchOverhead(benchmark::State& state) {
  GpuSession* gpu = GpuSession::get(state);
  if (!gpu) return;
  const CUstream stream = gpu->stream->get();
  runtime::DeviceBuffer in(64), q(32), scales(512);
  in.fill(0x3F, stream);
  const auto in_view = TensorView::contiguous(in.get(), DType::bf16, {1, 32});
  const auto q_view = TensorView::contiguous(q.get(), DType::e4m3, {1, 32});
  const auto s_view = TensorView::contiguous(scales.get(), DType::e8m0, {512});
  const QuantizeOptions options{ScaleLayout::swizzled_128x4, ScaleRule::rceil};
  auto dispatch = [&] { quantize_mxfp8(in_view, q_view, s_view, options, stream); };
  dispatch();  // compiles or loads once

  // The same kernel launched bare: same function, parameters and grid, resolved once up front.
  const ops::QuantizeLaunch launch = *ops::prepare_quantize(in_view, q_view, s_view, options, ops::quantize_default_unroll);
  QuantizeParams params = launch.params;
  void* args[] = {&params};
  const CUfunction fn = launch.kernel->function();
  const unsigned grid = launch.config.grid[0], block = launch.config.block[0];
  auto bare = [&] { MXJIT_CU(cuLaunchKernel, fn, grid, 1, 1, block, 1, 1, 0, stream, args, nullptr); };

  double dispatch_us = 0, bare_us = 0;
  for (auto _ : state) {
    bare_us = median_host_us(bare, stream);
    dispatch_us = median_host_us(dispatch, stream);
    state.SetIterationTime(dispatch_us * 1e-6);
  }
  state.counters["dispatch_us"] = dispatch_us;
  state.counters["bare_launch_us"] = bare_us;
  state.counters["overhead_us"] = dispatch_us - bare_us;
}
BENCHMARK(BM_DispatchOverhead)->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);

// The weight map of the 28672 x 4096 decode GEMM (128 x 128-byte boxes, 128-byte swizzle), pure host work:
// by the driver, and through runtime::tensor_map's memo (the ops' path; every call after the first a hit).
void BM_TensorMapEncode(benchmark::State& state, bool memo) {
  if (!GpuSession::get(state)) return;  // the encoder lives in the driver
  runtime::DeviceBuffer weights(std::uint64_t{28672} * 4096);
  const runtime::TmaTensor t{weights.get(), CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, 2, {4096, 28672, 1}, {4096, 0}};
  const auto encode = memo ? runtime::tensor_map : runtime::encode_tensor_map;
  for (auto _ : state) benchmark::DoNotOptimize(encode(t, {128, 128, 1}, CU_TENSOR_MAP_SWIZZLE_128B));
}
BENCHMARK_CAPTURE(BM_TensorMapEncode, driver, false)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_TensorMapEncode, memo, true)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mxjit::bench
