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
};

// Owns a CUlibrary holding one kernel. Loading sets the kernel's attributes once for `device`
// (e.g. the dynamic shared memory limit), so launches do only the launch.
class Kernel {
 public:
  Kernel(std::string_view cubin, const std::string& lowered_name, std::string display_name, int device,
         unsigned max_dynamic_smem);
  ~Kernel();
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  // `args` points at the kernel's parameters, as for cuLaunchKernel.
  void launch(const LaunchConfig& config, void** args) const;

  CUfunction function() const { return reinterpret_cast<CUfunction>(kernel_); }  // a CUkernel is launchable
  int device() const { return device_; }
  const std::string& name() const { return display_name_; }

 private:
  CUlibrary library_{};
  CUkernel kernel_{};
  std::string display_name_;
  int device_;
};

}  // namespace mxjit::runtime
