#include "runtime/kernel.hpp"

#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::runtime {

Kernel::Kernel(std::string_view cubin, const std::string& lowered_name, std::string display_name, int device,
               LaunchShape shape, bool allow_early_start)
    : display_name_(std::move(display_name)), device_(device) {
  const DriverApi& cu = driver();
  if (CUresult r = cu.cuLibraryLoadData(&library_, cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0);
      r != CUDA_SUCCESS)
    throw_cuda_error("cuLibraryLoadData", r, display_name_.c_str());
  CUresult r = cu.cuLibraryGetKernel(&kernel_, library_, lowered_name.c_str());
  if (r == CUDA_SUCCESS && shape.dynamic_smem > 48 * 1024)
    r = cu.cuKernelSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, static_cast<int>(shape.dynamic_smem),
                                kernel_, static_cast<CUdevice>(device));
  CUfunction in_context{};
  if (r == CUDA_SUCCESS) r = cu.cuKernelGetFunction(&in_context, kernel_);
  if (r == CUDA_SUCCESS)
    r = cu.cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm_, in_context, static_cast<int>(shape.block_threads),
                                                       shape.dynamic_smem);
  if (r == CUDA_SUCCESS && blocks_per_sm_ < 1) r = CUDA_ERROR_INVALID_VALUE;  // the shape cannot launch at all
  if (r != CUDA_SUCCESS) {
    cu.cuLibraryUnload(library_);
    throw_cuda_error("loading (cuLibraryGetKernel, cuKernelSetAttribute, cuOccupancyMaxActiveBlocksPerMultiprocessor)",
                     r, display_name_.c_str());
  }
  early_start_ = allow_early_start && device_info(device).arch.major >= 9;
}

Kernel::~Kernel() { driver().cuLibraryUnload(library_); }

void Kernel::launch(const LaunchConfig& c, void** args) const {
  CUlaunchAttribute attrs[2]{};
  CUlaunchConfig config{};
  config.gridDimX = c.grid[0];
  config.gridDimY = c.grid[1];
  config.gridDimZ = c.grid[2];
  config.blockDimX = c.block[0];
  config.blockDimY = c.block[1];
  config.blockDimZ = c.block[2];
  config.sharedMemBytes = c.dynamic_smem;
  config.hStream = c.stream;
  unsigned count = 0;
  if (c.cluster[0] * c.cluster[1] * c.cluster[2] > 1) {
    CUlaunchAttribute& a = attrs[count++];
    a.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    a.value.clusterDim.x = c.cluster[0];
    a.value.clusterDim.y = c.cluster[1];
    a.value.clusterDim.z = c.cluster[2];
  }
  if (c.early_start && early_start_) {
    CUlaunchAttribute& a = attrs[count++];
    a.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    a.value.programmaticStreamSerializationAllowed = 1;
  }
  config.attrs = count > 0 ? attrs : nullptr;
  config.numAttrs = count;
  if (CUresult r = driver().cuLaunchKernelEx(&config, function(), args, nullptr); r != CUDA_SUCCESS)
    throw_cuda_error("cuLaunchKernelEx", r, display_name_.c_str());
}

}  // namespace mxjit::runtime
