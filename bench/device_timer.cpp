#include "device_timer.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "jit/runtime_state.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::bench {
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

void DeviceTimer::flush_l2() {
  CUdeviceptr data = flush_.get();
  unsigned long long count = flush_.size() / 16;
  CUdeviceptr sink = flush_.get();  // never written in practice (see the kernel)
  void* args[] = {&data, &count, &sink};
  runtime::LaunchConfig config;
  config.grid[0] = static_cast<unsigned>(runtime::device_info(sweep_->device()).sm_count * sweep_->blocks_per_sm());
  config.block[0] = 256;
  config.stream = stream_;
  sweep_->launch(config, args);
}

double DeviceTimer::median_ms(const std::function<void()>& body, int samples, int warmup) {
  for (int i = 0; i < warmup; ++i) body();
  std::vector<double> times;
  for (int i = 0; i < samples; ++i) {
    flush_l2();
    start_.record(stream_);
    body();
    stop_.record(stream_);
    stop_.synchronize();
    times.push_back(runtime::Event::elapsed_ms(start_, stop_));
  }
  return median(times);
}

double median_host_us(const std::function<void()>& call, CUstream stream, int batch, int samples) {
  std::vector<double> times;
  for (int s = 0; s < samples + 2; ++s) {
    MXJIT_CU(cuStreamSynchronize, stream);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < batch; ++i) call();
    const auto t1 = std::chrono::steady_clock::now();
    if (s >= 2) times.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / batch);
  }
  MXJIT_CU(cuStreamSynchronize, stream);
  return median(times);
}

}  // namespace mxjit::bench
