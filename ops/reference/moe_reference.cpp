#include "ops/reference/moe_reference.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "mxjit/error.hpp"

namespace mxjit::reference {
namespace {

float to_float(std::uint16_t bits, DType dtype) { return dtype == DType::bf16 ? bf16_to_float(bits) : fp16_to_float(bits); }
std::uint16_t from_float(float value, DType dtype) {
  return dtype == DType::bf16 ? float_to_bf16(value) : float_to_fp16(value);
}

void require_16bit(DType dtype) {
  if (dtype != DType::bf16 && dtype != DType::fp16)
    throw Error(ErrorCode::invalid_argument, fmt::format("reference: dtype {} is not bf16 or fp16", to_string(dtype)));
}

// The rank order of route_topk: does expert a come before expert b?
bool ranks_before(float xa, int a, float xb, int b) {
  const bool nan_a = std::isnan(xa), nan_b = std::isnan(xb);
  if (nan_a || nan_b) return nan_a && nan_b ? a < b : nan_a;
  if (xa != xb) return xa > xb;
  return a < b;
}

float power_of_two(int e) { return std::bit_cast<float>(static_cast<std::uint32_t>(e + 127) << 23); }

}  // namespace

TopK route_topk(const float* logits, std::int64_t tokens, int experts, std::int64_t row_stride, int top_k,
                bool renormalize) {
  if (top_k < 1 || top_k > experts)
    throw Error(ErrorCode::invalid_argument, fmt::format("reference: top_k = {} with {} experts", top_k, experts));
  TopK out;
  out.ids.resize(static_cast<std::size_t>(tokens * top_k));
  out.weights.resize(out.ids.size());
  std::vector<int> order(static_cast<std::size_t>(experts));
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* x = logits + t * row_stride;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(),
                      [&](int a, int b) { return ranks_before(x[a], a, x[b], b); });
    const double top = x[order[0]];
    double sum = 0;
    for (int e = 0; e < experts; ++e) sum += std::exp(static_cast<double>(x[e]) - top);
    std::vector<double> p(static_cast<std::size_t>(top_k));
    double kept = 0;
    for (int j = 0; j < top_k; ++j) kept += p[j] = std::exp(static_cast<double>(x[order[j]]) - top) / sum;
    for (int j = 0; j < top_k; ++j) {
      out.ids[t * top_k + j] = order[j];
      out.weights[t * top_k + j] = static_cast<float>(renormalize ? p[j] / kept : p[j]);
    }
  }
  return out;
}

int local_expert(std::int32_t id, const std::int32_t* map, std::int64_t global_experts, int local_experts) {
  if (map != nullptr) {
    if (id < 0 || id >= global_experts) return -1;
    id = map[id];
  }
  return id >= 0 && id < local_experts ? id : -1;
}

std::vector<std::int32_t> expert_offsets(const std::int32_t* ids, std::int64_t pairs, const std::int32_t* map,
                                         std::int64_t global_experts, int local_experts) {
  std::vector<std::int32_t> offsets(static_cast<std::size_t>(local_experts) + 1, 0);
  for (std::int64_t i = 0; i < pairs; ++i)
    if (const int e = local_expert(ids[i], map, global_experts, local_experts); e >= 0) ++offsets[e + 1];
  std::partial_sum(offsets.begin(), offsets.end(), offsets.begin());
  return offsets;
}

std::string check_grouping(const std::int32_t* ids, std::int64_t pairs, int top_k, const std::int32_t* map,
                           std::int64_t global_experts, int local_experts, const std::vector<std::int32_t>& offsets,
                           const std::vector<std::int32_t>& pair_row, const std::vector<std::int32_t>& row_token) {
  const std::vector<std::int32_t> want = expert_offsets(ids, pairs, map, global_experts, local_experts);
  if (offsets.size() != want.size()) return fmt::format("{} offsets, want {}", offsets.size(), want.size());
  for (std::size_t e = 0; e < want.size(); ++e)
    if (offsets[e] != want[e]) return fmt::format("offsets[{}] = {}, want {}", e, offsets[e], want[e]);
  std::vector<bool> used(static_cast<std::size_t>(want.back()), false);
  for (std::int64_t i = 0; i < pairs; ++i) {
    const int e = local_expert(ids[i], map, global_experts, local_experts);
    const std::int32_t row = pair_row[i];
    if (e < 0) {
      if (row != -1) return fmt::format("pair {} (id {}) is dropped but has pair_row {}", i, ids[i], row);
      continue;
    }
    if (row < want[e] || row >= want[e + 1])
      return fmt::format("pair {} of local expert {} has row {}, outside the expert's [{}, {})", i, e, row, want[e],
                         want[e + 1]);
    if (used[row]) return fmt::format("row {} holds two pairs (one is pair {})", row, i);
    used[row] = true;
    if (row_token[row] != i / top_k)
      return fmt::format("row {} (pair {}) has row_token {}, want token {}", row, i, row_token[row], i / top_k);
  }
  return {};  // as many kept pairs as rows in use, all distinct: every row is used exactly once
}

float silu_exp(float z) {
  z = std::fmin(std::fmax(z, -104.0f), 89.0f);
  const float n = std::nearbyint(z * 0x1.715476p+0f);
  float r = std::fma(-n, 0x1.62e4p-1f, z);
  r = std::fma(-n, 0x1.7f7d1cp-20f, r);
  float poly = 0x1.a01a02p-13f;
  for (float c : {0x1.6c16c2p-10f, 0x1.111112p-7f, 0x1.555556p-5f, 0x1.555556p-3f, 0.5f, 1.0f, 1.0f})
    poly = std::fma(poly, r, c);
  const int k = static_cast<int>(n), k1 = k / 2, k2 = k - k1;
  return poly * power_of_two(k1) * power_of_two(k2);
}

std::uint16_t silu_mul(std::uint16_t gate, std::uint16_t up, DType dtype) {
  const float x = to_float(gate, dtype);
  const float silu = to_float(from_float(x / (1.0f + silu_exp(-x)), dtype), dtype);
  return from_float(silu * to_float(up, dtype), dtype);
}

Mxfp8Tensor silu_mul_quantize(const std::uint16_t* h, DType dtype, std::int64_t rows, std::int64_t inter,
                              std::int64_t row_stride, ScaleRule rule) {
  require_16bit(dtype);
  std::vector<std::uint16_t> a(static_cast<std::size_t>(rows * inter));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < inter; ++c)
      a[r * inter + c] = silu_mul(h[r * row_stride + c], h[r * row_stride + inter + c], dtype);
  return quantize(a.data(), dtype, 1, rows, inter, inter, rows * inter, ScaleLayout::linear, rule);
}

std::vector<std::uint16_t> moe_combine(const std::uint16_t* y, DType dtype, std::int64_t y_rows, std::int64_t hidden,
                                       std::int64_t y_row_stride, const std::int32_t* pair_row, const float* weights,
                                       std::int64_t tokens, int top_k) {
  require_16bit(dtype);
  std::vector<std::uint16_t> out(static_cast<std::size_t>(tokens * hidden));
  for (std::int64_t t = 0; t < tokens; ++t)
    for (std::int64_t c = 0; c < hidden; ++c) {
      float acc = 0.0f;
      for (int j = 0; j < top_k; ++j) {
        const std::int32_t row = pair_row[t * top_k + j];
        if (row < 0 || row >= y_rows) continue;
        acc = std::fma(weights[t * top_k + j], to_float(y[row * y_row_stride + c], dtype), acc);
      }
      out[t * hidden + c] = from_float(acc, dtype);
    }
  return out;
}

namespace {

// dot(x, deq(q row)) in fp64 over `cols`, and its magnitude sum |x w|.
void dot_mxfp8(const float* x, const std::uint8_t* q, const std::uint8_t* scales, std::int64_t cols, double& sum,
               double& magnitude) {
  sum = magnitude = 0;
  for (std::int64_t b = 0; b < cols / 32; ++b) {
    const double scale = e8m0_to_double(scales[b]);
    for (std::int64_t c = b * 32; c < b * 32 + 32; ++c) {
      const double p = x[c] * (e4m3_to_float(q[c]) * scale);
      sum += p;
      magnitude += std::fabs(p);
    }
  }
}

}  // namespace

void moe_forward_token(const MoeWeights& w, const std::uint16_t* x, const std::int32_t* ids, const float* weights,
                       const std::int32_t* map, std::vector<double>& out, std::vector<double>& bound) {
  require_16bit(w.dtype);
  const std::int64_t h = w.hidden, inter = w.inter;
  const Mxfp8Tensor xq = quantize(x, w.dtype, 1, 1, h, h, h, ScaleLayout::linear, ScaleRule::rceil);
  std::vector<float> xd(static_cast<std::size_t>(h)), ad(static_cast<std::size_t>(inter));
  for (std::int64_t c = 0; c < h; ++c) xd[c] = static_cast<float>(dequantize(xq, 1, h, 0, 0, c));
  std::vector<float> acc(static_cast<std::size_t>(h), 0.f);
  std::vector<double> magnitude(static_cast<std::size_t>(h), 0.0);
  std::vector<std::uint16_t> hrow(static_cast<std::size_t>(2 * inter));
  for (std::int64_t j = 0; j < w.top_k; ++j) {
    const int e = local_expert(ids[j], map, w.global_experts, static_cast<int>(w.experts));
    if (e < 0) continue;
    for (std::int64_t n = 0; n < 2 * inter; ++n) {
      double sum, mag;
      const std::int64_t row = e * 2 * inter + n;
      dot_mxfp8(xd.data(), &w.w13_q[row * h], &w.w13_scales[row * w.w13_scale_stride], h, sum, mag);
      hrow[n] = from_float(static_cast<float>(sum + (w.w13_bias ? to_float(w.w13_bias[row], w.dtype) : 0.f)), w.dtype);
    }
    const Mxfp8Tensor a = silu_mul_quantize(hrow.data(), w.dtype, 1, inter, 2 * inter, ScaleRule::rceil);
    for (std::int64_t c = 0; c < inter; ++c) ad[c] = static_cast<float>(dequantize(a, 1, inter, 0, 0, c));
    for (std::int64_t n = 0; n < h; ++n) {
      double sum, mag;
      const std::int64_t row = e * h + n;
      dot_mxfp8(ad.data(), &w.w2_q[row * inter], &w.w2_scales[row * w.w2_scale_stride], inter, sum, mag);
      const double b = w.w2_bias ? to_float(w.w2_bias[row], w.dtype) : 0.0;
      const float y = to_float(from_float(static_cast<float>(sum + b), w.dtype), w.dtype);
      acc[n] = std::fma(weights[j], y, acc[n]);
      magnitude[n] += std::fabs(weights[j]) * (mag + std::fabs(b));
    }
  }
  out.assign(static_cast<std::size_t>(h), 0.0);
  bound.assign(static_cast<std::size_t>(h), 0.0);
  for (std::int64_t n = 0; n < h; ++n) {
    out[n] = to_float(from_float(acc[n], w.dtype), w.dtype);
    bound[n] = std::ldexp(std::fabs(out[n]) + magnitude[n], -6) + 1e-6;
  }
}

}  // namespace mxjit::reference
