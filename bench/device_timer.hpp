// Device timing for benchmarks: CUDA events around each run, L2 flushed before it, median of many.
#pragma once

#include <cuda.h>

#include <functional>

#include "runtime/device.hpp"
#include "runtime/kernel.hpp"

namespace mxjit::bench {

class DeviceTimer {
 public:
  explicit DeviceTimer(CUstream stream);
  // Median milliseconds of `body` over `samples` runs after `warmup` untimed ones. Before each run a
  // read-only sweep of twice the L2 evicts everything (dirty lines written back outside the timed
  // region), so every run starts from a cold, clean cache.
  double median_ms(const std::function<void()>& body, int samples = 50, int warmup = 3);

 private:
  void flush_l2();

  CUstream stream_;
  runtime::DeviceBuffer flush_;  // 2x the L2, read (never written) by the sweep
  const runtime::Kernel* sweep_;
  runtime::Event start_, stop_;
};

// Median host microseconds per call of `call`, timed over batches of `batch` calls.
double median_host_us(const std::function<void()>& call, CUstream stream, int batch = 256, int samples = 30);

}  // namespace mxjit::bench
