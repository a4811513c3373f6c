// mxjit: MXFP8 kernels specialized at run time (NVRTC) for the GPU in hand. The C++ API.
//
// Everything works without explicit init(): the first call reads the MXJIT_* environment (see README).
// Call init() first to override the environment, e.g. from an engine's own configuration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mxjit/error.hpp"
#include "mxjit/gemm.hpp"
#include "mxjit/grouped_gemm.hpp"
#include "mxjit/linear.hpp"
#include "mxjit/moe.hpp"
#include "mxjit/quantize.hpp"
#include "mxjit/tune.hpp"
#include "mxjit/types.hpp"
#include "mxjit/warmup.hpp"

namespace mxjit {

const char* version();  // "0.1.0"

struct InitOptions {
  std::optional<std::string> cache_dir;  // overrides MXJIT_CACHE_DIR
  std::optional<bool> disk_cache;        // overrides MXJIT_DISABLE_DISK_CACHE
  std::optional<LogLevel> log_level;     // overrides MXJIT_LOG_LEVEL
};

// Configures the process-wide runtime. Must come before any other mxjit call that compiles or
// launches; a second call with different options throws Error(invalid_argument).
void init(const InitOptions& options = {});

struct GpuInfo {
  int ordinal = 0;
  std::string name;
  std::string arch;  // NVRTC target, e.g. "sm_90a"
  int sm_count = 0;
  int l2_bytes = 0;
  int max_smem_per_block = 0;
};

int gpu_count();  // 0 without a driver or GPU; never throws
GpuInfo gpu_info(int ordinal);

struct JitStats {
  std::uint64_t memory_hits = 0, disk_hits = 0, compiles = 0;
  double compile_ms = 0, disk_load_ms = 0;
};
JitStats jit_stats();
std::string cache_dir();        // the writable disk cache root
bool disk_cache_enabled();      // false when disabled or after the disk refused a write

}  // namespace mxjit
