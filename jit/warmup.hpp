// Compiling a set of kernel specializations into the caches ahead of time, in parallel.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "jit/kernel_cache.hpp"
#include "jit/kernel_spec.hpp"

namespace mxjit::jit {

struct WarmupItem {
  std::string name;  // display name of the specialization
  Origin origin = Origin::compiled;
  double milliseconds = 0;
  std::string error;  // empty on success
};

struct WarmupReport {
  std::vector<WarmupItem> items;  // in the order of the input specs
  double wall_ms = 0;
  int failures() const;
};

// Builds one spec into the disk cache somewhere else, e.g. in a child process, so that a compiler
// crash cannot take the caller down; returns an error text, empty on success.
using IsolatedBuild = std::function<std::string(const KernelSpec&)>;

// Builds every spec through `cache` (memory, disk or NVRTC) with up to `jobs` threads. Never throws for
// a single kernel's failure: it is recorded in its item. `progress(done, total, item)` is called
// after each kernel, from the worker thread that built it, one call at a time. With `isolated` and a
// disk cache, a kernel the caches lack is built by `isolated` instead (into the disk cache only).
WarmupReport warmup(KernelCache& cache, const std::vector<KernelSpec>& specs, int jobs,
                    const std::function<void(std::size_t, std::size_t, const WarmupItem&)>& progress = {},
                    const IsolatedBuild& isolated = {});

}  // namespace mxjit::jit
