#include "runtime/tensor_map.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "mxjit/error.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::runtime {

CUtensorMap encode_tensor_map(const TmaTensor& t, const std::uint32_t (&box)[3], CUtensorMapSwizzle swizzle) {
  // The driver's rules for a tiled map, checked here so that a bad tensor is named, not just refused.
  if (t.rank < 2 || t.rank > 3) throw Error(ErrorCode::internal, fmt::format("TMA map of rank {}", t.rank));
  if (t.base % 16 != 0 || t.strides[0] % 16 != 0 || (t.rank == 3 && t.strides[1] % 16 != 0))
    throw Error(ErrorCode::invalid_argument,
                fmt::format("TMA needs a 16-byte aligned tensor and strides, got address {:#x} and strides of {} and "
                            "{} bytes", t.base, t.strides[0], t.rank == 3 ? t.strides[1] : 0));
  for (int d = 0; d < t.rank; ++d)
    if (t.dims[d] == 0 || t.dims[d] >= (1ull << 32))
      throw Error(ErrorCode::invalid_argument, fmt::format("TMA: dimension {} of size {} cannot be mapped", d, t.dims[d]));
  for (int d = 0; d < 3; ++d)
    if (box[d] == 0 || box[d] > 256 || (d >= t.rank && box[d] != 1) || (d == 0 && box[0] * t.element_bytes % 16 != 0))
      throw Error(ErrorCode::internal, fmt::format("TMA box [{}, {}, {}] is outside the hardware's limits", box[0], box[1],
                                                   box[2]));
  const cuuint32_t element_strides[3] = {1, 1, 1};
  CUtensorMap map{};
  const CUresult r = driver().cuTensorMapEncodeTiled(
      &map, t.dtype, static_cast<cuuint32_t>(t.rank), reinterpret_cast<void*>(t.base), t.dims, t.strides, box,
      element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) throw_cuda_error("cuTensorMapEncodeTiled", r);
  return map;
}

namespace {

struct MapArguments {
  TmaTensor t;
  std::uint32_t box[3];
  CUtensorMapSwizzle swizzle;

  bool operator==(const MapArguments& o) const {  // field by field: TmaTensor has padding
    return t.base == o.t.base && t.dtype == o.t.dtype && t.element_bytes == o.t.element_bytes && t.rank == o.t.rank &&
           std::equal(t.dims, t.dims + 3, o.t.dims) && std::equal(t.strides, t.strides + 2, o.t.strides) &&
           std::equal(box, box + 3, o.box) && swizzle == o.swizzle;
  }
};

struct MemoEntry {
  MapArguments arguments;
  CUtensorMap map;
};

}  // namespace

CUtensorMap tensor_map(const TmaTensor& t, const std::uint32_t (&box)[3], CUtensorMapSwizzle swizzle) {
  thread_local std::array<MemoEntry, 16> memo;
  thread_local int filled = 0, next = 0;  // round robin: the oldest entry goes first
  const MapArguments arguments{t, {box[0], box[1], box[2]}, swizzle};
  for (int i = 0; i < filled; ++i)
    if (memo[i].arguments == arguments) return memo[i].map;
  const CUtensorMap map = encode_tensor_map(t, box, swizzle);
  memo[next] = {arguments, map};
  next = (next + 1) % static_cast<int>(memo.size());
  filled = std::min(filled + 1, static_cast<int>(memo.size()));
  return map;
}

}  // namespace mxjit::runtime
