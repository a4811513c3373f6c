#include "random_data.hpp"

#include <algorithm>
#include <vector>

#include "ops/reference/mxfp8_reference.hpp"

namespace mxjit::bench {

runtime::DeviceBuffer random_bytes(std::size_t count, bool scales, std::mt19937& rng) {
  std::vector<std::uint8_t> host(std::min<std::size_t>(count, 1 << 22));
  std::uniform_int_distribution<int> byte(0, 255), exponent(120, 130);
  for (auto& b : host) {
    b = static_cast<std::uint8_t>(scales ? exponent(rng) : byte(rng));
    if (!scales && (b & 0x7F) == 0x7F) b = 0x3C;
  }
  runtime::DeviceBuffer buf(count);
  for (std::size_t off = 0; off < count; off += host.size()) buf.upload(host.data(), std::min(host.size(), count - off), off);
  return buf;
}

runtime::DeviceBuffer random_bf16(std::size_t count, std::mt19937& rng) {
  std::vector<std::uint16_t> host(std::min<std::size_t>(count, 1 << 21));
  std::normal_distribution<float> normal;
  for (auto& h : host) h = reference::float_to_bf16(normal(rng));
  runtime::DeviceBuffer buf(count * 2);
  for (std::size_t off = 0; off < count; off += host.size())
    buf.upload(host.data(), std::min(host.size(), count - off) * 2, off * 2);
  return buf;
}

TensorView scale_view(std::uint64_t ptr, std::int64_t rows, std::int64_t k) {
  TensorView v = TensorView::contiguous(ptr, DType::e8m0, {rows, k / 32});
  v.strides = {(k / 32 + 3) / 4 * 4, 1};
  return v;
}

}  // namespace mxjit::bench
