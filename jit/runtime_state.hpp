// The process-wide JIT state: configuration, the disk and memory caches, and loaded kernels.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "jit/disk_cache.hpp"
#include "jit/env.hpp"
#include "jit/kernel_cache.hpp"
#include "mxjit/mxjit.hpp"
#include "runtime/kernel.hpp"

namespace mxjit::jit {

class RuntimeState {
 public:
  // Created on first use from the environment (plus init()'s overrides). Never destroyed: kernels
  // stay loaded for the life of the process, and no static destructor races the driver's teardown.
  static RuntimeState& get();
  static void configure(const InitOptions& options);

  const EnvConfig& config() const { return config_; }
  DiskCache& disk() { return disk_; }
  KernelCache& kernels() { return kernels_; }

  // The kernel for `spec`, compiled or fetched from a cache and loaded for `device` (whose context must be
  // current) to be launched with `shape`; memoized.
  const runtime::Kernel& load(const KernelSpec& spec, int device, runtime::LaunchShape shape);

 private:
  explicit RuntimeState(EnvConfig config);

  EnvConfig config_;
  DiskCache disk_;
  KernelCache kernels_;
  std::mutex loaded_mutex_;
  std::map<std::pair<std::string, int>, std::unique_ptr<runtime::Kernel>> loaded_;
};

}  // namespace mxjit::jit
