// launch_silu_mul_quantize: checks, then a grid-strided walk over the 32-element blocks of a.
#include <fmt/format.h>

#include <algorithm>

#include "mxjit/error.hpp"
#include "ops/fast_divisor.hpp"
#include "ops/kernel_table.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "templates/moe_aux_params.cuh"

namespace mxjit::ops {
namespace {

constexpr unsigned silu_threads = 256;  // the template's __launch_bounds__
// Blocks a warp has in flight: two 16-byte loads (gate, up) each, the bytes quantize_mxfp8's tuned
// unroll of 4 keeps in flight.
constexpr int silu_unroll = 2;
constexpr std::uint64_t u32_limit = 0xFFFFFFFFull;

KernelTable<4>& silu_kernels() {
  static KernelTable<4> table;
  return table;
}

void check_outputs(std::int64_t rows, std::int64_t inter, const TensorView& aq, const TensorView& a_scales) {
  require_dtype(aq, {DType::e4m3, DType::u8}, "moe_silu_mul_quantize: aq");
  require_matrix(aq, rows, inter, "moe_silu_mul_quantize: aq");
  if (!aq.is_contiguous())
    invalid_argument(fmt::format("moe_silu_mul_quantize: aq of shape {} must be contiguous", shape_text(aq)));
  require_pointer(aq.data, 16, "moe_silu_mul_quantize: aq");
  require_dtype(a_scales, {DType::e8m0, DType::u8}, "moe_silu_mul_quantize: a_scales");
  require_matrix(a_scales, rows, inter / 32, "moe_silu_mul_quantize: a_scales");
  require_pointer(a_scales.data, 1, "moe_silu_mul_quantize: a_scales");
  if (rows > 1 && static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(a_scales.strides[0]) > u32_limit)
    invalid_argument(fmt::format("moe_silu_mul_quantize: a_scales span {} rows x {} bytes, above one launch's 2^32",
                                 rows, a_scales.strides[0]));
}

}  // namespace

void launch_silu_mul_quantize(const TensorView& h, std::uint64_t row_count, const TensorView& aq,
                              const TensorView& a_scales, ScaleRule rule, CUstream stream) {
  require_dtype(h, {DType::bf16, DType::fp16}, "moe_silu_mul_quantize: h");
  require_matrix(h, -1, -1, "moe_silu_mul_quantize: h");
  const std::int64_t rows = h.shape[0], width = h.shape[1], inter = width / 2;
  if (width % 64 != 0 || width == 0)
    invalid_argument(fmt::format("MXFP8 requires the intermediate size I to be a positive multiple of 32; h has "
                                 "2I = {} columns",
                                 width));
  if (rows > 1 && h.strides[0] % 8 != 0)
    invalid_argument(fmt::format("moe_silu_mul_quantize: h row stride {} must be a multiple of 8 elements",
                                 h.strides[0]));
  require_pointer(h.data, 16, "moe_silu_mul_quantize: h");
  if (static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(inter / 32) > u32_limit)
    invalid_argument(fmt::format("moe_silu_mul_quantize: {} x {} blocks of 32 exceed one launch's limit of 2^32",
                                 rows, inter / 32));
  check_outputs(rows, inter, aq, a_scales);
  if (row_count != 0) require_pointer(row_count, 4, "moe_silu_mul_quantize: row_count");
  if (rows == 0) return;

  SiluMulQuantizeParams params{};
  params.h = reinterpret_cast<const void*>(h.data);
  params.h_row_stride = h.strides[0];
  params.q = reinterpret_cast<unsigned char*>(aq.data);
  params.scales = reinterpret_cast<unsigned char*>(a_scales.data);
  params.scale_row_stride = static_cast<unsigned>(a_scales.strides[0]);
  params.rows = static_cast<unsigned>(rows);
  params.blocks_per_row = make_fast_divisor(static_cast<std::uint32_t>(inter / 32));
  params.row_count = reinterpret_cast<const int*>(row_count);

  const int device = runtime::current_device();
  const runtime::DeviceInfo& info = runtime::device_info(device);
  const int variant = (h.dtype == DType::fp16 ? 2 : 0) + static_cast<int>(rule);
  const runtime::Kernel& kernel = silu_kernels().get(
      device, variant, {silu_threads, 0}, [&] { return silu_mul_quantize_kernel_spec(h.dtype, rule, info.arch); });
  // As quantize_mxfp8: at most one wave of resident CTAs, sized for all R rows (the rows in use are
  // only known on the device); the kernel strides over the rest and stops at *row_count.
  const std::uint64_t blocks = static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(inter / 32);
  const std::uint64_t blocks_per_cta_step = (silu_threads / 4) * silu_unroll;
  const std::uint64_t resident = std::uint64_t(info.sm_count) * static_cast<unsigned>(kernel.blocks_per_sm());
  runtime::LaunchConfig config;
  config.grid[0] = static_cast<unsigned>(
      std::clamp<std::uint64_t>((blocks + blocks_per_cta_step - 1) / blocks_per_cta_step, 1, resident));
  config.block[0] = silu_threads;
  config.stream = stream;
  config.early_start = true;  // the kernel starts in stream order on the device (templates/grid_dependency.cuh)
  void* args[] = {&params};
  kernel.launch(config, args);
}

jit::KernelSpec silu_mul_quantize_kernel_spec(DType dtype, ScaleRule rule, const jit::Arch& arch) {
  if (dtype != DType::bf16 && dtype != DType::fp16)
    invalid_argument(fmt::format("moe_silu_mul_quantize kernel: dtype {} is not supported (bf16 or fp16)",
                                 to_string(dtype)));
  if (arch.sm() < 89)
    throw Error(ErrorCode::unsupported,
                fmt::format("MXFP8 quantize needs fp8 conversion instructions (sm_89 or newer), not {}", arch.name()));
  return jit::KernelSpec{"moe_silu_mul_quantize",
                         "mxjit::moe_silu_mul_quantize_kernel",
                         {{"in", dtype == DType::bf16 ? "mxjit::Bf16" : "mxjit::Fp16"},
                          {"rule", rule == ScaleRule::rceil ? "mxjit::kRuleRceil" : "mxjit::kRuleFloor"},
                          {"unroll", std::to_string(silu_unroll)}},
                         arch};
}

}  // namespace mxjit::ops
