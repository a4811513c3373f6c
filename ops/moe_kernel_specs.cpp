// all_moe_aux_kernel_specs: what warmup and the compile tests enumerate for the MoE auxiliary kernels.
#include <fmt/format.h>

#include "ops/moe_kernels.hpp"
#include "ops/tensor_checks.hpp"

namespace mxjit::ops {

std::vector<jit::KernelSpec> all_moe_aux_kernel_specs(const jit::Arch& arch, DType dtype) {
  if (dtype != DType::bf16 && dtype != DType::fp16)
    invalid_argument(fmt::format("MoE kernels: activation dtype must be bf16 or fp16, got {}", to_string(dtype)));
  std::vector<jit::KernelSpec> specs;
  for (DType logits : {dtype, DType::f32})  // router logits come in the activation dtype or in f32
    for (int experts = 32; experts <= moe_route_max_experts; experts *= 2)  // one per expert-count class
      specs.push_back(route_topk_kernel_spec(logits, experts, arch));
  specs.push_back(group_by_expert_kernel_spec(arch));
  for (ScaleRule rule : {ScaleRule::rceil, ScaleRule::floor}) specs.push_back(silu_mul_quantize_kernel_spec(dtype, rule, arch));
  specs.push_back(moe_combine_kernel_spec(dtype, arch));
  return specs;
}

}  // namespace mxjit::ops
