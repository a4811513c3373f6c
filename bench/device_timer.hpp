// Timing for benchmarks: device time through the library's DeviceTimer (L2 emptied before each run,
// median of many), and host time per call for dispatch overheads.
#pragma once

#include <cuda.h>

#include <functional>

#include "ops/device_timer.hpp"

namespace mxjit::bench {

using ops::DeviceTimer;

// Median host microseconds per call of `call`, timed over batches of `batch` calls.
double median_host_us(const std::function<void()>& call, CUstream stream, int batch = 256, int samples = 30);

}  // namespace mxjit::bench
