#include "mxfp8_operands.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#include <fmt/format.h>

#include "ops/reference/mxfp8_reference.hpp"
#include "test_support.hpp"

namespace mxjit::testing {

double to_double(DType dtype, std::uint16_t bits) {
  return dtype == DType::bf16 ? reference::bf16_to_float(bits) : reference::fp16_to_float(bits);
}

namespace {

// Row chunks of about 1M elements: the unit of the operands' parallel generation and quantization.
std::int64_t chunk_rows(std::int64_t cols) { return std::max<std::int64_t>(1, (std::int64_t{1} << 20) / std::max<std::int64_t>(cols, 1)); }

}  // namespace

Mxfp8Operand Mxfp8Operand::random(std::int64_t rows, std::int64_t cols, std::mt19937_64& rng) {
  // A 28672 x 4096 weight took 12 s on one core, most of a GPU test's time on the device. Each chunk of
  // rows draws from its own generator, seeded from `rng` in chunk order: the operand depends on rng alone.
  std::vector<std::uint16_t> values(static_cast<std::size_t>(rows * cols));
  const std::int64_t per_chunk = chunk_rows(cols), chunks = (rows + per_chunk - 1) / per_chunk;
  std::vector<std::uint64_t> seeds(static_cast<std::size_t>(chunks));
  for (auto& seed : seeds) seed = rng();
  parallel_for(seeds.size(), [&](std::size_t c) {
    std::mt19937_64 local(seeds[c]);
    std::normal_distribution<float> normal;
    std::uniform_int_distribution<int> binade(-8, 3), zero_block(0, 63);  // fp16 outputs stay mostly finite
    const std::size_t begin = c * static_cast<std::size_t>(per_chunk * cols);
    const std::size_t end = std::min(values.size(), begin + static_cast<std::size_t>(per_chunk * cols));
    for (std::size_t i = begin; i < end; i += 32) {
      const bool zero = zero_block(local) == 0;
      const float scale = std::ldexp(1.f, binade(local));
      for (std::size_t j = i; j < i + 32; ++j) values[j] = reference::float_to_bf16(zero ? 0.f : normal(local) * scale);
    }
  });
  return from_values(DType::bf16, std::move(values), rows, cols);
}

Mxfp8Operand Mxfp8Operand::from_values(DType dtype, std::vector<std::uint16_t> values, std::int64_t rows,
                                       std::int64_t cols) {
  Mxfp8Operand op;
  op.rows = rows;
  op.cols = cols;
  op.scale_stride = (cols / 32 + 3) / 4 * 4;
  op.bf16 = std::move(values);
  op.q.resize(op.bf16.size());
  op.scales.assign(static_cast<std::size_t>(rows * op.scale_stride), 0);
  op.dequantized.resize(op.bf16.size());
  // Quantized by the CPU reference a chunk of rows at a time (rows are independent), in parallel.
  const std::int64_t per_chunk = chunk_rows(cols);
  parallel_for(static_cast<std::size_t>((rows + per_chunk - 1) / per_chunk), [&](std::size_t c) {
    const std::int64_t r0 = static_cast<std::int64_t>(c) * per_chunk, n = std::min(per_chunk, rows - r0);
    const auto t = reference::quantize(op.bf16.data() + r0 * cols, dtype, 1, n, cols, cols, n * cols,
                                       ScaleLayout::linear, ScaleRule::rceil);
    std::copy(t.q.begin(), t.q.end(), op.q.begin() + r0 * cols);
    for (std::int64_t r = 0; r < n; ++r) {
      for (std::int64_t b = 0; b < cols / 32; ++b)
        op.scales[static_cast<std::size_t>((r0 + r) * op.scale_stride + b)] = t.scales[static_cast<std::size_t>(r * (cols / 32) + b)];
      for (std::int64_t k = 0; k < cols; ++k)
        op.dequantized[static_cast<std::size_t>((r0 + r) * cols + k)] = static_cast<float>(reference::dequantize(t, n, cols, 0, r, k));
    }
  });
  return op;
}

GemmCheck check_elements(std::size_t count, const std::function<ElementCheck(std::size_t)>& element,
                         const std::function<std::string(std::size_t)>& name) {
  // The fp64 reference dominates the GPU suite's time: spread the elements over the host's cores.
  std::vector<ElementCheck> checks(count);
  parallel_for(count, [&](std::size_t i) { checks[i] = element(i); });
  GemmCheck result;
  for (std::size_t i = 0; i < count; ++i) {
    const ElementCheck& c = checks[i];
    ++result.checked;
    result.worst_ratio = std::max(result.worst_ratio, c.ratio);
    if (!(c.ratio <= 1.0) && result.failures++ == 0)
      result.first_failure = fmt::format("{} = {} but reference {} (bound {})", name(i), c.got, c.ref, c.bound);
  }
  return result;
}

GemmCheck check_gemm(const Mxfp8Operand& a, const Mxfp8Operand& b, const std::vector<std::uint16_t>& out,
                     DType out_dtype, const std::vector<std::uint16_t>* bias, std::mt19937_64& rng,
                     std::int64_t samples, int magnitude_exponent) {
  const std::int64_t m_count = a.rows, n_count = b.rows, k_count = a.cols;
  std::vector<std::pair<std::int64_t, std::int64_t>> picks;
  if (m_count * n_count <= 200000) {
    for (std::int64_t m = 0; m < m_count; ++m)
      for (std::int64_t n = 0; n < n_count; ++n) picks.emplace_back(m, n);
  } else {
    std::uniform_int_distribution<std::int64_t> pick_m(0, m_count - 1), pick_n(0, n_count - 1);
    for (std::int64_t s = 0; s < samples; ++s) picks.emplace_back(pick_m(rng), pick_n(rng));
    for (std::int64_t m : {std::int64_t{0}, m_count - 1})
      for (std::int64_t n : {std::int64_t{0}, n_count - 1}) picks.emplace_back(m, n);
  }
  return check_elements(
      picks.size(),
      [&](std::size_t i) {
        const auto [m, n] = picks[i];
        const double b_n = bias ? to_double(out_dtype, (*bias)[n]) : 0.0;
        return check_gemm_element(&a.dequantized[m * k_count], &b.dequantized[n * k_count], k_count, bias ? &b_n : nullptr,
                             to_double(out_dtype, out[m * n_count + n]), out_dtype, magnitude_exponent);
      },
      [&](std::size_t i) { return fmt::format("out[{}, {}]", picks[i].first, picks[i].second); });
}

DeviceOperand::DeviceOperand(const Mxfp8Operand& op) : q(op.q.size()), scales(op.scales.size()) {
  q.upload(op.q.data(), op.q.size());
  scales.upload(op.scales.data(), op.scales.size());
  q_view = TensorView::contiguous(q.get(), DType::e4m3, {op.rows, op.cols});
  scales_view = TensorView::contiguous(scales.get(), DType::e8m0, {op.rows, op.cols / 32});
  scales_view.strides = {op.scale_stride, 1};
}

}  // namespace mxjit::testing
