// TMA tensor maps (CUtensorMap) for kernels that copy 2-D boxes with the Tensor Memory Accelerator.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace mxjit::runtime {

// A row-major 2-D tensor in global memory: `rows` rows of `cols` elements of `element_bytes` each, rows
// `row_stride_bytes` apart, at `base`.
struct Tensor2d {
  std::uint64_t base;
  CUtensorMapDataType dtype;
  int element_bytes;
  std::uint64_t cols, rows, row_stride_bytes;
};

// The map a kernel copies `box_cols` x `box_rows` boxes of `t` through, into shared memory laid out
// with `swizzle`; elements outside the tensor arrive as zeros. Throws Error(invalid_argument) naming the
// TMA rule a tensor breaks (16-byte aligned base and row stride, box sizes), and Error(cuda_error) when
// the driver refuses it. Pure host work: no GPU call, no allocation.
CUtensorMap encode_tensor_map(const Tensor2d& t, std::uint32_t box_cols, std::uint32_t box_rows,
                              CUtensorMapSwizzle swizzle);

}  // namespace mxjit::runtime
