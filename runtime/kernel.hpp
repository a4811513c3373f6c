// A compiled kernel loaded into the driver, and its launch.
#pragma once

#include <cuda.h>

#include <string>
#include <string_view>

namespace mxjit::runtime {

struct LaunchConfig {
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  unsigned dynamic_smem = 0;
  unsigned cluster[3] = {1, 1, 1};  // thread-block cluster; {1,1,1} launches without one
  CUstream stream = nullptr;
  // Programmatic dependent launch: the kernel may start before the previous one on the stream ends; it
  // must wait for it on the device (templates/grid_dependency.cuh) before touching its data. Ignored
  // below sm_90, which has no such launch.
  bool early_start = false;
};

// The block size and dynamic shared memory a kernel is always launched with (its template fixes them).
struct LaunchShape {
  unsigned block_threads = 128;
  unsigned dynamic_smem = 0;
};

// Owns a CUlibrary holding one kernel. Loading sets the kernel's attributes once for `device` (the
// dynamic shared memory limit) and measures its occupancy, so launches do only the launch.
// Loading needs a current context on `device`. `allow_early_start` false: LaunchConfig::early_start is
// ignored (MXJIT_EARLY_START=0).
class Kernel {
 public:
  Kernel(std::string_view cubin, const std::string& lowered_name, std::string display_name, int device,
         LaunchShape shape, bool allow_early_start = true);
  ~Kernel();
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  // `args` points at the kernel's parameters, as for cuLaunchKernel.
  void launch(const LaunchConfig& config, void** args) const;

  CUfunction function() const { return reinterpret_cast<CUfunction>(kernel_); }  // a CUkernel is launchable
  int device() const { return device_; }
  // CTAs of the load-time LaunchShape that fit on one SM at once (> 0): sizes persistent grids.
  int blocks_per_sm() const { return blocks_per_sm_; }
  const std::string& name() const { return display_name_; }

 private:
  CUlibrary library_{};
  CUkernel kernel_{};
  std::string display_name_;
  int device_;
  int blocks_per_sm_ = 1;
  bool early_start_ = false;  // LaunchConfig::early_start is honoured: allowed, on sm_90 and newer
};

}  // namespace mxjit::runtime
