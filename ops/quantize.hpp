// Internal side of the quantize op: the kernel specializations, for warmup and tests.
#pragma once

#include <optional>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "mxjit/quantize.hpp"
#include "runtime/kernel.hpp"
#include "templates/mxfp8_quantize_params.cuh"

namespace mxjit::ops {

inline constexpr int quantize_default_unroll = 4;  // H100 sweep, bench/METHOD.md version 5
inline constexpr int quantize_unrolls[] = {1, 2, 4, 8};  // what a tuner may choose from
inline constexpr unsigned quantize_block_threads = 256;  // the template's __launch_bounds__

// Everything one quantize launch needs, checked and resolved (the kernel compiled or loaded).
struct QuantizeLaunch {
  const runtime::Kernel* kernel;
  runtime::LaunchConfig config;  // stream left null
  QuantizeParams params;
};

// Validates the arguments and resolves the launch; nullopt for an empty tensor (nothing to do).
std::optional<QuantizeLaunch> prepare_quantize(const TensorView& input, const TensorView& q, const TensorView& scales,
                                               const QuantizeOptions& options, int unroll);

// quantize_mxfp8 with an explicit unroll (one of quantize_unrolls): for tuning and benchmarks.
void launch_quantize(const TensorView& input, const TensorView& q, const TensorView& scales,
                     const QuantizeOptions& options, int unroll, CUstream stream);

jit::KernelSpec quantize_kernel_spec(DType input, ScaleLayout layout, ScaleRule rule, const jit::Arch& arch,
                                     int unroll = quantize_default_unroll);

// Every specialization quantize_mxfp8 can launch on `arch` (input dtype x layout x rule).
std::vector<jit::KernelSpec> all_quantize_kernel_specs(const jit::Arch& arch);

}  // namespace mxjit::ops
