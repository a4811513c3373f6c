// Device timing shared by the benchmarks and `mxjit tune`: CUDA events around each run, the L2 emptied
// before it, the median of many runs.
#pragma once

#include <cuda.h>

#include <functional>

#include "runtime/device.hpp"
#include "runtime/kernel.hpp"

namespace mxjit::ops {

class DeviceTimer {
 public:
  // Times work on `stream`, in the current context.
  explicit DeviceTimer(CUstream stream);
  // Median milliseconds of `body` over `samples` runs after `warmup` untimed ones. Before each run a
  // read-only sweep of twice the L2 evicts everything (dirty lines written back outside the timed
  // region), so every run starts from a cold, clean cache.
  double median_ms(const std::function<void()>& body, int samples = 50, int warmup = 3);
  // The same median over as many runs as fit in `budget_ms` of wall time (each run's sweep, launch and
  // wait included), but at least `min_samples` and at most `max_samples`, after one untimed run.
  double median_ms_within(const std::function<void()>& body, double budget_ms, int min_samples, int max_samples);
  // Enqueues one read of `bytes` (a multiple of 16) at `data` by the sweep kernel, every SM busy: the
  // read-only reference the benchmarks set beside kernels that stream that many bytes.
  void sweep(CUdeviceptr data, std::size_t bytes);

 private:
  double sample_ms(const std::function<void()>& body);  // one swept, event-timed run

  CUstream stream_;
  runtime::DeviceBuffer flush_;  // 2x the L2, read (never written) by the sweep
  const runtime::Kernel* sweep_;
  runtime::Event start_, stop_;
};

}  // namespace mxjit::ops
