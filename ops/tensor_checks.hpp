// Argument checks shared by the ops: each throws Error(invalid_argument) naming the value and the rule.
// Names are string_views: the checks run on every op call and must not allocate unless they throw.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mxjit/types.hpp"

namespace mxjit::ops {

[[noreturn]] void invalid_argument(const std::string& message);
std::string shape_text(const TensorView& t);  // "[4, 64]"
bool same_shape(const TensorView& a, const TensorView& b);
// Non-null and aligned to `alignment` bytes.
void require_pointer(std::uint64_t ptr, unsigned alignment, std::string_view what);
// ndim == 2, the given sizes (negative: any), unit column stride.
void require_matrix(const TensorView& t, std::int64_t rows, std::int64_t cols, std::string_view what);
void require_dtype(const TensorView& t, std::initializer_list<DType> allowed, std::string_view what);
// An MXFP8 GEMM operand: [rows, k] e4m3 (16-byte aligned rows) and its [rows, k/32] e8m0 scales (rows a
// multiple of 4 bytes apart), as the GEMM kernels' 16- and 4-byte copies need.
void require_mxfp8_matrix(const TensorView& data, const TensorView& scales, std::int64_t k, std::string_view what,
                          std::string_view scales_what);

}  // namespace mxjit::ops
