#include <fmt/format.h>

#include "mxjit/error.hpp"
#include "mxjit/types.hpp"

namespace mxjit {

std::size_t element_size(DType dtype) noexcept {
  switch (dtype) {
    case DType::bf16:
    case DType::fp16: return 2;
    case DType::f32:
    case DType::i32: return 4;
    case DType::e4m3:
    case DType::e8m0:
    case DType::u8: return 1;
  }
  return 0;
}

std::string_view to_string(DType dtype) noexcept {
  switch (dtype) {
    case DType::bf16: return "bf16";
    case DType::fp16: return "fp16";
    case DType::f32: return "f32";
    case DType::e4m3: return "e4m3";
    case DType::e8m0: return "e8m0";
    case DType::u8: return "u8";
    case DType::i32: return "i32";
  }
  return "?";
}

std::string_view to_string(ScaleLayout layout) noexcept {
  return layout == ScaleLayout::linear ? "linear" : "swizzled_128x4";
}

std::string_view to_string(ScaleRule rule) noexcept { return rule == ScaleRule::rceil ? "rceil" : "floor"; }

TensorView TensorView::contiguous(std::uint64_t data, DType dtype, std::initializer_list<std::int64_t> shape) {
  if (shape.size() < 1 || shape.size() > max_dims)
    throw Error(ErrorCode::invalid_argument,
                fmt::format("TensorView supports 1 to {} dimensions, got {}", max_dims, shape.size()));
  TensorView t;
  t.data = data;
  t.dtype = dtype;
  t.ndim = static_cast<int>(shape.size());
  int i = 0;
  for (std::int64_t s : shape) {
    if (s < 0) throw Error(ErrorCode::invalid_argument, fmt::format("negative dimension {} in a shape", s));
    t.shape[i++] = s;
  }
  std::int64_t stride = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    t.strides[d] = stride;
    stride *= t.shape[d];
  }
  return t;
}

std::int64_t TensorView::numel() const noexcept {
  std::int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  return n;
}

static int normalize_dim(int dim, int ndim) {
  int d = dim < 0 ? dim + ndim : dim;
  if (d < 0 || d >= ndim)
    throw Error(ErrorCode::invalid_argument, fmt::format("dimension {} out of range for a {}-d tensor", dim, ndim));
  return d;
}

std::int64_t TensorView::size(int dim) const { return shape[normalize_dim(dim, ndim)]; }
std::int64_t TensorView::stride(int dim) const { return strides[normalize_dim(dim, ndim)]; }

bool TensorView::is_contiguous() const noexcept {
  std::int64_t expected = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::no_device: return "no_device";
    case ErrorCode::cuda_error: return "cuda_error";
    case ErrorCode::compile_error: return "compile_error";
    case ErrorCode::io_error: return "io_error";
    case ErrorCode::internal: return "internal";
  }
  return "unknown";
}

}  // namespace mxjit
