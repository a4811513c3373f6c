// `mxjit check`: on a GPU, quantize fresh random tensors with every variant and compare every byte
// with the CPU reference. The main job's proof that the kernels it warmed are right on this machine.
#include <fmt/format.h>

#include <chrono>
#include <random>

#include "commands.hpp"
#include "mxjit/mxjit.hpp"
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

}  // namespace

Runner add_check_command(CLI::App& app) {
  app.add_subcommand("check", "run every quantize variant on the GPU against the CPU reference");
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
    fmt::print("check on {}: {}\n", gpu_info(0).name, failures == 0 ? "all variants bit-exact" : "FAILED");
    return failures == 0 ? 0 : 1;
  };
}

}  // namespace mxjit::tools
