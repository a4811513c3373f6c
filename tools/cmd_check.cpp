// `mxjit check`: on a GPU, quantize fresh random tensors with every variant and compare every byte with
// the CPU reference, then run a real MXFP8 linear layer and MoE layer forward and hold sampled outputs
// to the reference's bounds. The main job's proof that the kernels it warmed are right on this machine.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "commands.hpp"
#include "mxjit/mxjit.hpp"
#include "ops/reference/moe_reference.hpp"
#include "ops/reference/mxfp8_reference.hpp"
#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::tools {
namespace {

// Returns the number of mismatching bytes of one quantize against the reference.
std::size_t check_one(DType dtype, ScaleLayout layout, ScaleRule rule, std::int64_t b, std::int64_t r, std::int64_t k,
                      std::mt19937_64& rng, CUstream stream) {
  std::vector<std::uint16_t> host(static_cast<std::size_t>(b * r * k));
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> binade(-20, 10);
  for (std::size_t i = 0; i < host.size(); i += 32) {
    const float scale = std::ldexp(1.f, binade(rng));
    for (std::size_t j = i; j < i + 32; ++j)
      host[j] = dtype == DType::bf16 ? reference::float_to_bf16(normal(rng) * scale)
                                     : reference::float_to_fp16(normal(rng) * scale);
  }
  const auto want = reference::quantize(host.data(), dtype, b, r, k, k, r * k, layout, rule);
  runtime::DeviceBuffer in(host.size() * 2), q(want.q.size()), s(want.scales.size());
  in.upload(host.data(), in.size());
  q.fill(0xCD, stream);
  s.fill(0xCD, stream);
  const auto s_view = layout == ScaleLayout::linear
                          ? TensorView::contiguous(s.get(), DType::e8m0, {b, r, k / 32})
                          : TensorView::contiguous(s.get(), DType::e8m0, {static_cast<std::int64_t>(s.size())});
  quantize_mxfp8(TensorView::contiguous(in.get(), dtype, {b, r, k}),
                 TensorView::contiguous(q.get(), DType::e4m3, {b, r, k}), s_view, {layout, rule}, stream);
  MXJIT_CU(cuStreamSynchronize, stream);
  std::vector<std::uint8_t> got_q(want.q.size()), got_s(want.scales.size());
  q.download(got_q.data(), got_q.size());
  s.download(got_s.data(), got_s.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got_q.size(); ++i) bad += got_q[i] != want.q[i];
  for (std::size_t i = 0; i < got_s.size(); ++i) bad += got_s[i] != want.scales[i];
  return bad;
}

std::vector<std::uint16_t> random_bf16(std::size_t count, float scale, std::mt19937_64& rng) {
  std::vector<std::uint16_t> v(count);
  std::normal_distribution<float> normal;
  for (auto& x : v) x = reference::float_to_bf16(normal(rng) * scale);
  return v;
}

std::vector<std::uint8_t> download(const TensorView& t, std::size_t bytes) {
  std::vector<std::uint8_t> host(bytes);
  MXJIT_CU(cuMemcpyDtoH, host.data(), t.data, bytes);
  return host;
}

std::vector<float> dequantize_rows(const std::uint8_t* q, const std::uint8_t* scales, std::int64_t scale_stride,
                                   std::int64_t rows, std::int64_t cols) {
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = static_cast<float>(reference::e4m3_to_float(q[r * cols + c]) *
                                             reference::e8m0_to_double(scales[r * scale_stride + c / 32]));
  return out;
}

// Mxfp8Linear (Llama-3-8B's o_proj shape) on 16 tokens; every output against the fp64 reference of the
// operands as quantized, with design.md's bound. Returns the worst error / bound ratio.
double check_linear(std::mt19937_64& rng, CUstream stream) {
  const std::int64_t m = 16, n = 4096, k = 4096;
  Mxfp8Linear layer(k, {n}, k, n, DType::bf16, {.max_tokens = m});
  const auto w = random_bf16(static_cast<std::size_t>(n * k), 0.02f, rng), x = random_bf16(static_cast<std::size_t>(m * k), 1.f, rng);
  runtime::DeviceBuffer d_w(w.size() * 2), d_x(x.size() * 2), d_out(static_cast<std::size_t>(m * n * 2));
  d_w.upload(w.data(), d_w.size());
  d_x.upload(x.data(), d_x.size());
  layer.load_weight(d_w.get(), stream);
  layer.process_weights_after_loading(stream);
  layer.apply(TensorView::contiguous(d_x.get(), DType::bf16, {m, k}), nullptr,
              TensorView::contiguous(d_out.get(), DType::bf16, {m, n}), stream);
  MXJIT_CU(cuStreamSynchronize, stream);
  std::vector<std::uint16_t> out(static_cast<std::size_t>(m * n));
  d_out.download(out.data(), out.size() * 2);
  const TensorView ws = layer.weight_scale();
  const auto wq = download(layer.weight(), static_cast<std::size_t>(n * k));
  const auto wsc = download(ws, static_cast<std::size_t>(n * ws.strides[0]));
  const auto wd = dequantize_rows(wq.data(), wsc.data(), ws.strides[0], n, k);
  const auto xq = reference::quantize(x.data(), DType::bf16, 1, m, k, k, m * k, ScaleLayout::linear, ScaleRule::rceil);
  const auto xd = dequantize_rows(xq.q.data(), xq.scales.data(), k / 32, m, k);
  double worst = 0;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      worst = std::max(worst, reference::check_gemm_element(&xd[i * k], &wd[j * k], k, nullptr,
                                                            reference::bf16_to_float(out[i * n + j]), DType::bf16)
                                  .ratio);
  return worst;
}

// Mxfp8MoE (a Qwen3-30B-A3B-like layer, fewer experts) on 64 tokens routed by random logits; sampled
// tokens against the whole-forward reference. Returns the worst error / bound ratio.
double check_moe(std::mt19937_64& rng, CUstream stream) {
  const std::int64_t e = 16, top_k = 4, h = 1024, inter = 512, t = 64;
  Mxfp8MoE layer(e, top_k, h, inter, DType::bf16, {.max_tokens = t});
  const auto w13 = random_bf16(static_cast<std::size_t>(e * 2 * inter * h), 0.05f, rng);
  const auto w2 = random_bf16(static_cast<std::size_t>(e * h * inter), 0.05f, rng);
  const auto x = random_bf16(static_cast<std::size_t>(t * h), 1.f, rng);
  std::vector<float> logits(static_cast<std::size_t>(t * e));
  std::normal_distribution<float> normal;
  for (float& v : logits) v = normal(rng);
  runtime::DeviceBuffer d13(w13.size() * 2), d2(w2.size() * 2), d_x(x.size() * 2), d_logits(logits.size() * 4),
      d_out(x.size() * 2);
  d13.upload(w13.data(), d13.size());
  d2.upload(w2.data(), d2.size());
  d_x.upload(x.data(), d_x.size());
  d_logits.upload(logits.data(), d_logits.size());
  layer.load_weights(d13.get(), d2.get(), stream);
  layer.process_weights_after_loading(stream);
  const TensorView logits_view = TensorView::contiguous(d_logits.get(), DType::f32, {t, e});
  layer.apply({TensorView::contiguous(d_x.get(), DType::bf16, {t, h}), &logits_view},
              TensorView::contiguous(d_out.get(), DType::bf16, {t, h}), stream);
  MXJIT_CU(cuStreamSynchronize, stream);
  std::vector<std::uint16_t> out(x.size());
  d_out.download(out.data(), out.size() * 2);
  const TensorView s13 = layer.w13_weight_scale(), s2 = layer.w2_weight_scale();
  const auto q13 = download(layer.w13_weight(), w13.size()), q2 = download(layer.w2_weight(), w2.size());
  const auto sc13 = download(s13, static_cast<std::size_t>(e * 2 * inter * s13.strides[1]));
  const auto sc2 = download(s2, static_cast<std::size_t>(e * h * s2.strides[1]));
  const reference::MoeWeights weights{e, e, h, inter, top_k, DType::bf16, q13.data(), sc13.data(), s13.strides[1],
                                      q2.data(), sc2.data(), s2.strides[1], nullptr, nullptr};
  const reference::TopK routing = reference::route_topk(logits.data(), t, static_cast<int>(e), e, static_cast<int>(top_k), false);
  double worst = 0;
  std::vector<double> ref, bound;
  for (std::int64_t token = 0; token < t; token += 7) {
    reference::moe_forward_token(weights, &x[token * h], &routing.ids[token * top_k], &routing.weights[token * top_k],
                                 nullptr, ref, bound);
    for (std::int64_t c = 0; c < h; ++c) {
      const double got = reference::bf16_to_float(out[token * h + c]);
      worst = std::max(worst, std::isfinite(got) ? std::fabs(got - ref[c]) / bound[c] : INFINITY);
    }
  }
  return worst;
}

}  // namespace

Runner add_check_command(CLI::App& app) {
  app.add_subcommand("check", "run every quantize variant, a linear layer and an MoE layer on the GPU against the CPU reference");
  return [] {
    if (!runtime::gpu_available()) {
      fmt::print("check: no GPU on this machine, nothing to run\n");
      return 0;
    }
    runtime::PrimaryContext context(0);
    runtime::Stream stream;
    std::mt19937_64 rng(static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    int failures = 0;
    for (DType dtype : {DType::bf16, DType::fp16})
      for (ScaleLayout layout : {ScaleLayout::linear, ScaleLayout::swizzled_128x4})
        for (ScaleRule rule : {ScaleRule::rceil, ScaleRule::floor}) {
          const std::size_t bad = check_one(dtype, layout, rule, 3, 1000, 2048, rng, stream.get());
          fmt::print("quantize {} {} {} [3, 1000, 2048]: {}\n", to_string(dtype), to_string(layout), to_string(rule),
                     bad == 0 ? "bit-exact" : fmt::format("{} bytes differ", bad));
          failures += bad != 0;
        }
    const double linear = check_linear(rng, stream.get());
    fmt::print("linear (Mxfp8Linear, M=16, N=4096, K=4096, bf16): worst error {:.3f} of design.md's bound: {}\n",
               linear, linear <= 1.0 ? "ok" : "FAILED");
    failures += !(linear <= 1.0);
    const double moe = check_moe(rng, stream.get());
    fmt::print("MoE (Mxfp8MoE, E=16, top-4, H=1024, I=512, T=64, bf16): worst error {:.3f} of the reference bound: {}\n",
               moe, moe <= 1.0 ? "ok" : "FAILED");
    failures += !(moe <= 1.0);
    fmt::print("check on {}: {}\n", gpu_info(0).name, failures == 0 ? "all kernels correct" : "FAILED");
    return failures == 0 ? 0 : 1;
  };
}

}  // namespace mxjit::tools
