#include "device_timer.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::bench {

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
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

double copy_tbps(DeviceTimer& timer, CUstream stream) {
  const std::size_t bytes = std::size_t{1} << 30;
  runtime::DeviceBuffer src(bytes), dst(bytes);
  const double ms = timer.median_ms([&] { MXJIT_CU(cuMemcpyDtoDAsync, dst.get(), src.get(), bytes, stream); }, 10);
  return 2.0 * bytes / (ms * 1e-3) / 1e12;
}

}  // namespace mxjit::bench
