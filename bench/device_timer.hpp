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

// The device-to-device copy bandwidth this run sees (bytes read + written per second, in TB/s), on 1 GiB:
// the ceiling memory-bound kernels are held against.
double copy_tbps(DeviceTimer& timer, CUstream stream);

}  // namespace mxjit::bench
