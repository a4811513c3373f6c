// TMA tensor maps (CUtensorMap) for kernels that copy boxes with the Tensor Memory Accelerator.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace mxjit::runtime {

// A strided tensor in global memory of rank 2 or 3, innermost dimension first: dims[0] contiguous
// elements of `element_bytes` each, then dims[1] rows `strides[0]` bytes apart, then (rank 3) dims[2]
// planes `strides[1]` bytes apart, at `base`.
struct TmaTensor {
  std::uint64_t base;
  CUtensorMapDataType dtype;
  int element_bytes;
  int rank;
  std::uint64_t dims[3];
  std::uint64_t strides[2];
};

// The map a kernel copies boxes of `box` elements (innermost first; 1 for a missing dimension) of `t`
// through, into shared memory laid out with `swizzle`; elements outside the tensor arrive as zeros.
// Throws Error(invalid_argument) naming the TMA rule a tensor breaks (16-byte aligned base and strides),
// Error(internal) for a box outside the hardware's limits, Error(cuda_error) when the driver refuses the
// map. Pure host work: no GPU call, no allocation.
CUtensorMap encode_tensor_map(const TmaTensor& t, const std::uint32_t (&box)[3], CUtensorMapSwizzle swizzle);

// encode_tensor_map through a memo of the calling thread's last 16 maps. A layer's launches encode the
// same maps call after call (its weight, its workspace, the same token count), and a map is a pure
// function of its arguments, so a hit returns the very bytes the driver would. Errors are not cached.
CUtensorMap tensor_map(const TmaTensor& t, const std::uint32_t (&box)[3], CUtensorMapSwizzle swizzle);

}  // namespace mxjit::runtime
