// The kernel specializations the linear and MoE methods load for given layers and token counts: what
// warmup_layers compiles (ops/warmup.cpp), listed apart so that tests can hold it against the ops' own
// choices without compiling anything.
#pragma once

#include <cstdint>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "mxjit/warmup.hpp"

namespace mxjit::ops {

// The largest SM count warmup assumes a GPU of unknown size may have.
// Checks every shape, token count and the dtype; throws Error(invalid_argument) naming the layer.
void check_warmup_layers(const std::vector<LinearShape>& linear, const std::vector<MoeShape>& moe,
                         const std::vector<std::int64_t>& tokens, DType dtype);

// check_warmup_layers, then the kernels Mxfp8Linear::apply and Mxfp8MoE::apply (default options) launch
// for them, one per display name, sorted by it.
std::vector<jit::KernelSpec> layer_kernel_specs(const std::vector<LinearShape>& linear, const std::vector<MoeShape>& moe,
                                                const std::vector<std::int64_t>& tokens, DType dtype,
                                                const jit::Arch& arch);

}  // namespace mxjit::ops
