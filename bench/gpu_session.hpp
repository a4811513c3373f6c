// The GPU a benchmark runs on: device 0's primary context and a stream, or a skip when there is none.
#pragma once

#include <benchmark/benchmark.h>

#include <memory>

#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::bench {

struct GpuSession {
  std::unique_ptr<runtime::PrimaryContext> context;
  std::unique_ptr<runtime::Stream> stream;

  // Returns nullptr (and marks the benchmark skipped) where no GPU exists.
  static GpuSession* get(benchmark::State& state) {
    if (!runtime::gpu_available()) {
      state.SkipWithError("no GPU");
      return nullptr;
    }
    static GpuSession session = [] {
      GpuSession s;
      s.context = std::make_unique<runtime::PrimaryContext>(0);
      s.stream = std::make_unique<runtime::Stream>();
      return s;
    }();
    session.context->make_current();
    return &session;
  }
};

}  // namespace mxjit::bench
