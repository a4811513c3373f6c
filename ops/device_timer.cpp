#include "ops/device_timer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "jit/runtime_state.hpp"

namespace mxjit::ops {
namespace {

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace

DeviceTimer::DeviceTimer(CUstream stream)
    : stream_(stream), flush_(2 * static_cast<std::size_t>(runtime::device_info(runtime::current_device()).l2_bytes)) {
  const int device = runtime::current_device();
  const jit::KernelSpec spec{"read_sweep", "mxjit::read_sweep_kernel", {}, runtime::device_info(device).arch};
  sweep_ = &jit::RuntimeState::get().load(spec, device, {256, 0});
  flush_.fill(0x5A, stream_);
}

void DeviceTimer::sweep(CUdeviceptr data, std::size_t bytes) {
  unsigned long long count = bytes / 16;
  CUdeviceptr sink = flush_.get();  // never written in practice (see the kernel)
  void* args[] = {&data, &count, &sink};
  runtime::LaunchConfig config;
  config.grid[0] = static_cast<unsigned>(runtime::device_info(sweep_->device()).sm_count * sweep_->blocks_per_sm());
  config.block[0] = 256;
  config.stream = stream_;
  sweep_->launch(config, args);
}

double DeviceTimer::sample_ms(const std::function<void()>& body) {
  sweep(flush_.get(), flush_.size());  // the L2 emptied
  start_.record(stream_);
  body();
  stop_.record(stream_);
  stop_.synchronize();
  return runtime::Event::elapsed_ms(start_, stop_);
}

double DeviceTimer::median_ms(const std::function<void()>& body, int samples, int warmup) {
  for (int i = 0; i < warmup; ++i) body();
  std::vector<double> times;
  for (int i = 0; i < samples; ++i) times.push_back(sample_ms(body));
  return median(times);
}

double DeviceTimer::median_ms_within(const std::function<void()>& body, double budget_ms, int min_samples,
                                     int max_samples) {
  body();
  // The first sample, timed on the host too, prices a sample in wall time for the budget.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<double> times{sample_ms(body)};
  const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const double fit = wall_ms > 0 ? std::floor(budget_ms / wall_ms) : max_samples;
  const int samples = static_cast<int>(std::clamp<double>(fit, min_samples, max_samples));
  while (static_cast<int>(times.size()) < samples) times.push_back(sample_ms(body));
  return median(times);
}

}  // namespace mxjit::ops
