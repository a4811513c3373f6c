// warmup_layers: the kernels Mxfp8Linear::apply and Mxfp8MoE::apply launch, compiled ahead of time.
#include "mxjit/warmup.hpp"

#include <fmt/format.h>

#include <map>

#include "jit/runtime_state.hpp"
#include "jit/warmup.hpp"
#include "ops/gemm.hpp"
#include "ops/grouped_gemm.hpp"
#include "ops/layer_kernels.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/moe_plan.hpp"
#include "ops/quantize.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit {
namespace ops {
namespace {

// Mxfp8MoE's constructor checks, with the layer's name; then its apply's bound on T * top_k.
void check_moe_layer(const MoeShape& m, const std::vector<std::int64_t>& tokens) {
  auto fail = [&](const std::string& why) { invalid_argument(fmt::format("warmup: MoE layer {} {}", m.name, why)); };
  if (m.hidden <= 0 || m.hidden % 32 != 0)
    fail(fmt::format("has hidden = {}: MXFP8 needs a positive multiple of 32", m.hidden));
  if (m.intermediate <= 0 || m.intermediate % 32 != 0)
    fail(fmt::format("has intermediate = {} (per partition): MXFP8 needs a positive multiple of 32", m.intermediate));
  if (m.experts < 1 || m.experts > moe_group_max_experts)
    fail(fmt::format("has {} local experts; 1 to {} are supported", m.experts, moe_group_max_experts));
  const std::int64_t global = m.global_experts == 0 ? m.experts : m.global_experts;
  if (global < m.experts || global > moe_route_max_experts)
    fail(fmt::format("has {} global experts; they must be within [local experts = {}, {}]", global, m.experts,
                     moe_route_max_experts));
  if (m.top_k < 1 || m.top_k > std::min<std::int64_t>(global, moe_max_top_k))
    fail(fmt::format("has top_k = {}; it must be within [1, min(global experts = {}, {})]", m.top_k, global,
                     moe_max_top_k));
  for (std::int64_t t : tokens)
    if (t * m.top_k >= (std::int64_t{1} << 30))
      fail(fmt::format("at {} tokens has {} (token, expert) pairs; T * top_k must stay below 2^30", t, t * m.top_k));
}

}  // namespace

void check_warmup_layers(const std::vector<LinearShape>& linear, const std::vector<MoeShape>& moe,
                         const std::vector<std::int64_t>& tokens, DType dtype) {
  if (dtype != DType::bf16 && dtype != DType::fp16)
    invalid_argument(fmt::format("warmup: activation dtype must be bf16 or fp16, got {}", to_string(dtype)));
  for (const LinearShape& l : linear)
    if (l.n <= 0 || l.k <= 0 || l.k % 32 != 0)
      invalid_argument(fmt::format("warmup: layer {} has n = {}, k = {}: MXFP8 needs positive sizes and k % 32 == 0",
                                   l.name, l.n, l.k));
  for (std::int64_t m : tokens)
    if (m < 1) invalid_argument(fmt::format("warmup: token count {} is not positive", m));
  for (const MoeShape& m : moe) check_moe_layer(m, tokens);
}

std::span<const GpuSize> warmup_gpu_sizes() {
  static constexpr GpuSize sizes[] = {{132, 228 << 10}, {114, 228 << 10}, {78, 228 << 10}};
  return sizes;
}

std::vector<jit::KernelSpec> layer_kernel_specs(const std::vector<LinearShape>& linear, const std::vector<MoeShape>& moe,
                                                const std::vector<std::int64_t>& tokens, DType dtype,
                                                const jit::Arch& arch) {
  check_warmup_layers(linear, moe, tokens, dtype);

  // The kernels depend on shapes only through a few parameters (the tile, the expert-count class), so
  // many layers and token counts share few kernels: one entry per display name.
  std::map<std::string, jit::KernelSpec> unique;
  auto add = [&](jit::KernelSpec spec) { unique.emplace(spec.display_name(), std::move(spec)); };
  if (!linear.empty() || !moe.empty())  // both methods quantize their activations alike
    add(quantize_kernel_spec(dtype, ScaleLayout::linear, ScaleRule::rceil, arch));
  if (!linear.empty()) {  // Mxfp8Linear::apply: the quantize, the GEMM tile chosen for each shape and token count
    const GemmFamilies families = GemmFamilies::dispatched(arch);
    for (const LinearShape& l : linear)
      for (std::int64_t m : tokens)
        for (const GpuSize& gpu : warmup_gpu_sizes())
          for (jit::KernelSpec& spec : gemm_launch_kernel_specs(
                   gemm_tiles[gemm_tile_for(families, m, l.n, l.k, gpu.sm_count, gpu.smem_per_sm)], dtype, arch))
            add(std::move(spec));
  }
  if (!moe.empty()) {  // Mxfp8MoE::apply: route, group, quantize x, grouped GEMM, SiLU-mul quantize, grouped GEMM, combine
    add(group_by_expert_kernel_spec(arch));
    add(silu_mul_quantize_kernel_spec(dtype, ScaleRule::rceil, arch));
    add(moe_combine_kernel_spec(dtype, arch));
    for (const MoeShape& m : moe) {
      const std::int64_t global = m.global_experts == 0 ? m.experts : m.global_experts;
      for (DType logits : {DType::f32, dtype}) add(route_topk_kernel_spec(logits, static_cast<int>(global), arch));
      for (std::int64_t t : tokens)  // one tile for both GEMMs
        for (jit::KernelSpec& spec : grouped_gemm_launch_kernel_specs(
                 grouped_gemm_tiles[moe_grouped_gemm_tile({m.experts, global, m.hidden, m.intermediate, m.top_k}, t, arch)],
                 dtype, arch))
          add(std::move(spec));
    }
  }
  std::vector<jit::KernelSpec> specs;
  for (auto& [name, spec] : unique) specs.push_back(std::move(spec));
  return specs;
}

}  // namespace ops

WarmupSummary warmup_layers(const std::vector<LinearShape>& linear, const std::vector<MoeShape>& moe,
                            const std::vector<std::int64_t>& tokens, DType dtype, const std::string& arch_name, int jobs,
                            const std::function<void(const WarmupEvent&)>& progress) {
  ops::check_warmup_layers(linear, moe, tokens, dtype);  // before any device query
  const jit::Arch arch = arch_name.empty() ? runtime::device_info(runtime::current_device()).arch
                                           : jit::Arch::parse(arch_name);
  const std::vector<jit::KernelSpec> specs = ops::layer_kernel_specs(linear, moe, tokens, dtype, arch);

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

WarmupSummary warmup_linear_layers(const std::vector<LinearShape>& layers, const std::vector<std::int64_t>& tokens,
                                   DType dtype, const std::string& arch, int jobs,
                                   const std::function<void(const WarmupEvent&)>& progress) {
  return warmup_layers(layers, {}, tokens, dtype, arch, jobs, progress);
}

}  // namespace mxjit
