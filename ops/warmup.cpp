// warmup_linear_layers: the kernels Mxfp8Linear::apply launches, compiled ahead of time.
#include "mxjit/warmup.hpp"

#include <fmt/format.h>

#include <map>

#include "jit/runtime_state.hpp"
#include "jit/warmup.hpp"
#include "ops/gemm.hpp"
#include "ops/quantize.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"

namespace mxjit {

WarmupSummary warmup_linear_layers(const std::vector<LinearShape>& layers, const std::vector<std::int64_t>& tokens,
                                   DType dtype, const std::string& arch_name, int jobs,
                                   const std::function<void(const WarmupEvent&)>& progress) {
  if (dtype != DType::bf16 && dtype != DType::fp16)
    ops::invalid_argument(fmt::format("warmup: activation dtype must be bf16 or fp16, got {}", to_string(dtype)));
  for (const LinearShape& l : layers)
    if (l.n <= 0 || l.k <= 0 || l.k % 32 != 0)
      ops::invalid_argument(fmt::format("warmup: layer {} has n = {}, k = {}: MXFP8 needs positive sizes and k % 32 == 0",
                                        l.name, l.n, l.k));
  for (std::int64_t m : tokens)
    if (m < 1) ops::invalid_argument(fmt::format("warmup: token count {} is not positive", m));
  const jit::Arch arch = arch_name.empty() ? runtime::device_info(runtime::current_device()).arch
                                           : jit::Arch::parse(arch_name);
  const ops::GemmFamily family = ops::default_gemm_family(arch);

  // What apply() launches: the activation quantize, and the GEMM tile chosen for each token count. The
  // kernels depend on shapes only through the tile, so many layers share few kernels.
  std::map<std::string, jit::KernelSpec> unique;
  auto add = [&](jit::KernelSpec spec) { unique.emplace(spec.display_name(), std::move(spec)); };
  if (!layers.empty()) {
    add(ops::quantize_kernel_spec(dtype, ScaleLayout::linear, ScaleRule::rceil, arch));
    for (std::int64_t m : tokens) add(ops::gemm_kernel_spec(ops::gemm_tiles[ops::gemm_tile_for(family, m)], dtype, arch));
  }
  std::vector<jit::KernelSpec> specs;
  for (auto& [name, spec] : unique) specs.push_back(std::move(spec));

  const jit::WarmupReport report = jit::warmup(
      jit::RuntimeState::get().kernels(), specs, jobs,
      [&](std::size_t done, std::size_t total, const jit::WarmupItem& item) {
        if (progress)
          progress(WarmupEvent{done, total, item.name, item.origin == jit::Origin::compiled, item.milliseconds, item.error});
      });
  WarmupSummary summary;
  summary.kernels = report.items.size();
  summary.failed = static_cast<std::size_t>(report.failures());
  for (const jit::WarmupItem& item : report.items) summary.compiled += item.error.empty() && item.origin == jit::Origin::compiled;
  summary.wall_ms = report.wall_ms;
  return summary;
}

}  // namespace mxjit
