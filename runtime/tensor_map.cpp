#include "runtime/tensor_map.hpp"

#include <fmt/format.h>

#include "mxjit/error.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::runtime {

CUtensorMap encode_tensor_map(const Tensor2d& t, std::uint32_t box_cols, std::uint32_t box_rows,
                              CUtensorMapSwizzle swizzle) {
  // The driver's rules for a tiled map, checked here so that a bad tensor is named, not just refused.
  if (t.base % 16 != 0 || t.row_stride_bytes % 16 != 0)
    throw Error(ErrorCode::invalid_argument,
                fmt::format("TMA needs a 16-byte aligned tensor and row stride, got address {:#x} and a stride of {} bytes",
                            t.base, t.row_stride_bytes));
  if (t.cols == 0 || t.rows == 0 || t.row_stride_bytes < t.cols * t.element_bytes || t.rows >= (1ull << 32))
    throw Error(ErrorCode::invalid_argument, fmt::format("TMA: a {} x {} tensor with rows {} bytes apart cannot be mapped",
                                                         t.rows, t.cols, t.row_stride_bytes));
  if (box_cols == 0 || box_rows == 0 || box_cols > 256 || box_rows > 256 || box_cols * t.element_bytes % 16 != 0)
    throw Error(ErrorCode::internal, fmt::format("TMA box {} x {} is outside the hardware's limits", box_rows, box_cols));
  const cuuint64_t dims[2] = {t.cols, t.rows};
  const cuuint64_t strides[1] = {t.row_stride_bytes};
  const cuuint32_t box[2] = {box_cols, box_rows};
  const cuuint32_t element_strides[2] = {1, 1};
  CUtensorMap map{};
  const CUresult r = driver().cuTensorMapEncodeTiled(
      &map, t.dtype, 2, reinterpret_cast<void*>(t.base), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) throw_cuda_error("cuTensorMapEncodeTiled", r);
  return map;
}

}  // namespace mxjit::runtime
