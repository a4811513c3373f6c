// Internal side of the quantize op: the kernel specializations, for warmup and tests.
#pragma once

#include <vector>

#include "jit/kernel_spec.hpp"
#include "mxjit/quantize.hpp"

namespace mxjit::ops {

inline constexpr int quantize_default_unroll = 4;

jit::KernelSpec quantize_kernel_spec(DType input, ScaleLayout layout, ScaleRule rule, const jit::Arch& arch,
                                     int unroll = quantize_default_unroll);

// Every specialization quantize_mxfp8 can launch on `arch` (input dtype x layout x rule).
std::vector<jit::KernelSpec> all_quantize_kernel_specs(const jit::Arch& arch);

}  // namespace mxjit::ops
