// mxjit: element types, MXFP8 options and the non-owning tensor view the ops take.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mxjit {

enum class LogLevel : int { error = 0, warn = 1, info = 2, debug = 3 };

enum class DType : int { bf16 = 0, fp16 = 1, f32 = 2, e4m3 = 3, e8m0 = 4, u8 = 5, i32 = 6 };

std::size_t element_size(DType dtype) noexcept;
std::string_view to_string(DType dtype) noexcept;

// Where the e8m0 scales of a [.., R, K] tensor go (design.md 3).
enum class ScaleLayout : int {
  linear = 0,          // [.., R, K/32] row-major
  swizzled_128x4 = 1,  // per batch: rows padded to 128, scale columns to 4, 512-byte tiles
};
std::string_view to_string(ScaleLayout layout) noexcept;

// How a block's e8m0 exponent is chosen from its amax (design.md 2).
enum class ScaleRule : int {
  rceil = 0,  // 127 + ceil(log2(amax/448)): NVIDIA's convention, never saturates
  floor = 1,  // 127 + floor(log2(amax)) - 8: OCP v1.0 reference, saturates block maxima
};
std::string_view to_string(ScaleRule rule) noexcept;

// A view of device memory: up to 3 dimensions, strides in elements. Does not own the memory.
struct TensorView {
  static constexpr int max_dims = 3;
  std::uint64_t data = 0;  // CUdeviceptr
  DType dtype = DType::u8;
  int ndim = 0;
  std::array<std::int64_t, max_dims> shape{};
  std::array<std::int64_t, max_dims> strides{};

  // A contiguous row-major view of the given shape.
  static TensorView contiguous(std::uint64_t data, DType dtype, std::initializer_list<std::int64_t> shape);

  std::int64_t numel() const noexcept;
  std::int64_t size(int dim) const;     // negative dims count from the end
  std::int64_t stride(int dim) const;   // negative dims count from the end
  bool is_contiguous() const noexcept;
};

}  // namespace mxjit
