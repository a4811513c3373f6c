#include "device_timer.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

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

}  // namespace mxjit::bench
