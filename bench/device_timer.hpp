// Device timing for benchmarks: CUDA events around each run, L2 flushed before it, median of many.
#pragma once

#include <cuda.h>

#include <functional>

#include "runtime/device.hpp"

namespace mxjit::bench {

class DeviceTimer {
 public:
  explicit DeviceTimer(CUstream stream);
  // Median milliseconds of `body` over `samples` runs after `warmup` untimed ones; the L2 is
  // overwritten before each run so every run starts cold, as a layer in a real model does.
  double median_ms(const std::function<void()>& body, int samples = 50, int warmup = 3);

 private:
  CUstream stream_;
  runtime::DeviceBuffer flush_;
  runtime::Event start_, stop_;
};

// Median host microseconds per call of `call`, timed over batches of `batch` calls.
double median_host_us(const std::function<void()>& call, CUstream stream, int batch = 256, int samples = 30);

}  // namespace mxjit::bench
