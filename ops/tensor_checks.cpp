#include "ops/tensor_checks.hpp"

#include <fmt/format.h>

#include "mxjit/error.hpp"

namespace mxjit::ops {

void invalid_argument(const std::string& message) { throw Error(ErrorCode::invalid_argument, message); }

std::string shape_text(const TensorView& t) {
  std::string out = "[";
  for (int d = 0; d < t.ndim; ++d) out += fmt::format("{}{}", d ? ", " : "", t.shape[d]);
  return out + "]";
}

bool same_shape(const TensorView& a, const TensorView& b) {
  if (a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d)
    if (a.shape[d] != b.shape[d]) return false;
  return true;
}

void require_pointer(std::uint64_t ptr, unsigned alignment, std::string_view what) {
  if (ptr == 0) invalid_argument(fmt::format("{} pointer is null", what));
  if (ptr % alignment != 0)
    invalid_argument(fmt::format("{} pointer {:#x} is not {}-byte aligned", what, ptr, alignment));
}

void require_matrix(const TensorView& t, std::int64_t rows, std::int64_t cols, std::string_view what) {
  if (t.ndim != 2) invalid_argument(fmt::format("{} must be 2-D, got shape {}", what, shape_text(t)));
  if ((rows >= 0 && t.shape[0] != rows) || (cols >= 0 && t.shape[1] != cols))
    invalid_argument(fmt::format("{} has shape {}, expected [{}, {}]", what, shape_text(t),
                                 rows >= 0 ? std::to_string(rows) : "*", cols >= 0 ? std::to_string(cols) : "*"));
  if (t.strides[1] != 1) invalid_argument(fmt::format("{} needs unit column stride, got {}", what, t.strides[1]));
  if (t.shape[0] > 1 && t.strides[0] < t.shape[1])
    invalid_argument(fmt::format("{} row stride {} is below its width {}", what, t.strides[0], t.shape[1]));
}

void require_dtype(const TensorView& t, std::initializer_list<DType> allowed, std::string_view what) {
  for (DType d : allowed)
    if (t.dtype == d) return;
  std::string names;
  for (DType d : allowed) names += fmt::format("{}{}", names.empty() ? "" : " or ", to_string(d));
  invalid_argument(fmt::format("{} dtype must be {}, got {}", what, names, to_string(t.dtype)));
}

void require_mxfp8_matrix(const TensorView& data, const TensorView& scales, std::int64_t k, std::string_view what,
                          std::string_view scales_what) {
  require_dtype(data, {DType::e4m3, DType::u8}, what);
  require_matrix(data, -1, k, what);
  require_pointer(data.data, 16, what);
  if (data.strides[0] % 16 != 0)
    invalid_argument(fmt::format("{} row stride {} must be a multiple of 16 bytes", what, data.strides[0]));
  require_dtype(scales, {DType::e8m0, DType::u8}, scales_what);
  require_matrix(scales, data.shape[0], k / 32, scales_what);
  require_pointer(scales.data, 4, scales_what);
  if (scales.strides[0] % 4 != 0)
    invalid_argument(fmt::format("{} row stride {} must be a multiple of 4 bytes (pad rows to round_up(K/32, 4))",
                                 scales_what, scales.strides[0]));
}

}  // namespace mxjit::ops
