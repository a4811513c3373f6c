// The process-level functions of include/mxjit/mxjit.hpp.
#include "jit/runtime_state.hpp"
#include "jit/version.hpp"
#include "mxjit/mxjit.hpp"
#include "runtime/device.hpp"

namespace mxjit {

const char* version() { return jit::mxjit_version(); }

void init(const InitOptions& options) { jit::RuntimeState::configure(options); }

int gpu_count() {
  try {
    return runtime::device_count();
  } catch (...) {
    return 0;
  }
}

GpuInfo gpu_info(int ordinal) {
  const runtime::DeviceInfo& d = runtime::device_info(ordinal);
  return GpuInfo{d.ordinal, d.name, d.arch.name(), d.sm_count, d.l2_bytes, d.max_smem_per_block_optin};
}

JitStats jit_stats() {
  const jit::CacheStats s = jit::RuntimeState::get().kernels().stats();
  return JitStats{s.memory_hits, s.disk_hits, s.compiles, s.compile_ms, s.disk_load_ms};
}

std::string cache_dir() { return jit::RuntimeState::get().disk().root(); }
bool disk_cache_enabled() { return jit::RuntimeState::get().disk().enabled(); }

}  // namespace mxjit
