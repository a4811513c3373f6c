#include "ops/dequantize_bf16.hpp"

#include <fmt/format.h>

#include "mxjit/error.hpp"
#include "ops/kernel_table.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "runtime/tensor_map.hpp"
#include "templates/mxfp8_dequantize_bf16_params.cuh"

namespace mxjit::ops {
namespace {
constexpr unsigned block_threads = 256;  // the template's __launch_bounds__
}

std::int64_t dequantize_bf16_row_elements(std::int64_t k) { return (k + 127) / 128 * 128; }

std::uint64_t dequantize_bf16_bytes(std::int64_t rows, std::int64_t k) {
  return static_cast<std::uint64_t>(rows * dequantize_bf16_row_elements(k) * 2 + (rows + 255) / 256 * 256);
}

CUtensorMap dequantize_bf16_tensor_map(std::uint64_t out, std::int64_t rows, std::int64_t k, int box_rows) {
  const auto ld = static_cast<std::uint64_t>(dequantize_bf16_row_elements(k));
  return runtime::tensor_map(
      {out, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, 2, {ld, static_cast<std::uint64_t>(rows)}, {ld * 2}},
      {64, static_cast<std::uint32_t>(box_rows), 1}, CU_TENSOR_MAP_SWIZZLE_128B);
}

jit::KernelSpec dequantize_bf16_kernel_spec(const jit::Arch& arch) {
  if (arch.sm() < 90)
    throw Error(ErrorCode::unsupported, fmt::format("the bf16 operand prepass serves sm_90a kernels, not {}", arch.name()));
  return jit::KernelSpec{"mxfp8_dequantize_bf16", "mxjit::mxfp8_dequantize_bf16_kernel", {}, arch};
}

void dequantize_bf16(const TensorView& q, const TensorView& scales, std::uint64_t out, CUstream stream,
                     const DequantizeRows& rows) {
  // 16-byte rows for the prepass's stores and for the GEMMs' TMA boxes and cp.async copies.
  require_pointer(out, 16, "the bf16 operand workspace");
  static KernelTable<1> kernels;
  const int device = runtime::current_device();
  const runtime::DeviceInfo& info = runtime::device_info(device);
  const runtime::Kernel& kernel =
      kernels.get(device, 0, {block_threads, 0}, [&] { return dequantize_bf16_kernel_spec(info.arch); });
  DequantizeBf16Params p{};
  p.q = reinterpret_cast<const unsigned char*>(q.data);
  p.scales = reinterpret_cast<const unsigned char*>(scales.data);
  p.ld = q.strides[0];
  p.ld_s = static_cast<int>(scales.strides[0]);
  p.q_rows = static_cast<int>(q.shape[0]);
  p.rows = rows.count < 0 ? p.q_rows : static_cast<int>(rows.count);
  p.gather = reinterpret_cast<const int*>(rows.gather);
  p.rows_in_use = reinterpret_cast<const int*>(rows.rows_in_use);
  p.k = static_cast<int>(q.shape[1]);
  p.ld_out = dequantize_bf16_row_elements(q.shape[1]);
  p.out = reinterpret_cast<unsigned short*>(out);
  p.exact = reinterpret_cast<unsigned char*>(out + static_cast<std::uint64_t>(p.rows * p.ld_out * 2));
  if (p.rows == 0) return;
  runtime::LaunchConfig config;
  config.grid[0] = static_cast<unsigned>(p.rows);  // one CTA per row
  config.block[0] = block_threads;
  config.stream = stream;
  config.early_start = true;  // the kernel starts in stream order on the device (templates/grid_dependency.cuh)
  void* args[] = {&p};
  kernel.launch(config, args);
}

}  // namespace mxjit::ops
