// The kernel specializations the linear and MoE methods load for given layers and token counts: what
// warmup_layers compiles (ops/warmup.cpp), listed apart so that tests can hold it against the ops' own
// choices without compiling anything.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "mxjit/warmup.hpp"

namespace mxjit::ops {

// The GPU sizes warmup compiles the linear method's GEMM tiles for, whatever GPU (if any) it runs on: the
// tile of a mid-size M depends on the SM count (ops::gemm_tile_for), so the kernels of every Hopper part
// (132 SMs: H100 SXM, H200, GH200; 114: H100 PCIe; 78: H20; 228 KB of shared memory an SM) are compiled.
struct GpuSize {
  int sm_count, smem_per_sm;
};
std::span<const GpuSize> warmup_gpu_sizes();

// Checks every shape, token count and the dtype; throws Error(invalid_argument) naming the layer.
void check_warmup_layers(const std::vector<LinearShape>& linear, const std::vector<MoeShape>& moe,
                         const std::vector<std::int64_t>& tokens, DType dtype);

// check_warmup_layers, then the kernels Mxfp8Linear::apply and Mxfp8MoE::apply (default options) launch
// for them, one per display name, sorted by it.
std::vector<jit::KernelSpec> layer_kernel_specs(const std::vector<LinearShape>& linear, const std::vector<MoeShape>& moe,
                                                const std::vector<std::int64_t>& tokens, DType dtype,
                                                const jit::Arch& arch);

}  // namespace mxjit::ops
