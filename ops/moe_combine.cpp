// launch_moe_combine: checks, then CTAs tiling the hidden dimension (x) and stepping over tokens (y).
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "ops/kernel_table.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "templates/moe_aux_params.cuh"

namespace mxjit::ops {
namespace {

constexpr unsigned combine_threads = 128;  // the template's kCombineThreads
constexpr unsigned max_grid_y = 65535;     // the driver's limit; the kernel loops over the remaining tokens

KernelTable<2>& combine_kernels() {
  static KernelTable<2> table;
  return table;
}

// A [rows, hidden] bf16/fp16 matrix read or written with 16-byte vectors.
void check_vector_rows(const TensorView& t, std::int64_t rows, std::int64_t hidden, std::string_view what) {
  require_matrix(t, rows, hidden, what);
  if (t.shape[0] > 1 && t.strides[0] % 8 != 0)
    invalid_argument(fmt::format("{} row stride {} must be a multiple of 8 elements", what, t.strides[0]));
  require_pointer(t.data, 16, what);
}

}  // namespace

void launch_moe_combine(const TensorView& y, std::uint64_t pair_row, const TensorView& topk_weights,
                        const TensorView& out, CUstream stream) {
  require_dtype(out, {DType::bf16, DType::fp16}, "moe_combine: out");
  require_matrix(out, -1, -1, "moe_combine: out");
  const std::int64_t tokens = out.shape[0], hidden = out.shape[1];
  if (hidden % 8 != 0 || hidden == 0)
    invalid_argument(fmt::format("moe_combine: the hidden size H = {} must be a positive multiple of 8", hidden));
  check_vector_rows(out, tokens, hidden, "moe_combine: out");
  if (y.dtype != out.dtype)
    invalid_argument(fmt::format("moe_combine: y dtype {} must match out's {}", to_string(y.dtype), to_string(out.dtype)));
  check_vector_rows(y, -1, hidden, "moe_combine: y");
  require_dtype(topk_weights, {DType::f32}, "moe_combine: topk_weights");
  require_matrix(topk_weights, tokens, -1, "moe_combine: topk_weights");
  if (!topk_weights.is_contiguous())
    invalid_argument(
        fmt::format("moe_combine: topk_weights of shape {} must be contiguous", shape_text(topk_weights)));
  const std::int64_t top_k = topk_weights.shape[1];
  if (top_k < 1) invalid_argument(fmt::format("moe_combine: top_k = {} (topk_weights columns) must be >= 1", top_k));
  constexpr std::int64_t i32_max = std::numeric_limits<std::int32_t>::max();
  if (tokens > i32_max / top_k || y.shape[0] > i32_max)
    invalid_argument(fmt::format("moe_combine: T * k = {} * {} pairs or {} rows of y exceed the limit of 2^31 - 1",
                                 tokens, top_k, y.shape[0]));
  require_pointer(topk_weights.data, 4, "moe_combine: topk_weights");
  require_pointer(pair_row, 4, "moe_combine: pair_row");
  if (tokens == 0) return;

  MoeCombineParams params{};
  params.y = reinterpret_cast<const void*>(y.data);
  params.y_row_stride = y.strides[0];
  params.y_rows = static_cast<unsigned>(y.shape[0]);
  params.pair_row = reinterpret_cast<const int*>(pair_row);
  params.weights = reinterpret_cast<const float*>(topk_weights.data);
  params.top_k = static_cast<unsigned>(top_k);
  params.out = reinterpret_cast<void*>(out.data);
  params.out_row_stride = out.strides[0];
  params.tokens = static_cast<unsigned>(tokens);
  params.vectors_per_row = static_cast<unsigned>(hidden / 8);

  const int device = runtime::current_device();
  const runtime::Kernel& kernel =
      combine_kernels().get(device, out.dtype == DType::fp16 ? 1 : 0, {combine_threads, 0}, [&] {
        return moe_combine_kernel_spec(out.dtype, runtime::device_info(device).arch);
      });
  runtime::LaunchConfig config;
  config.grid[0] = (params.vectors_per_row + combine_threads - 1) / combine_threads;
  config.grid[1] = std::min<unsigned>(params.tokens, max_grid_y);
  config.block[0] = combine_threads;
  config.stream = stream;
  config.early_start = true;  // the kernel starts in stream order on the device (templates/grid_dependency.cuh)
  void* args[] = {&params};
  kernel.launch(config, args);
}

jit::KernelSpec moe_combine_kernel_spec(DType dtype, const jit::Arch& arch) {
  if (dtype != DType::bf16 && dtype != DType::fp16)
    invalid_argument(fmt::format("moe_combine kernel: dtype {} is not supported (bf16 or fp16)", to_string(dtype)));
  return jit::KernelSpec{"moe_combine",
                         "mxjit::moe_combine_kernel",
                         {{"out", dtype == DType::bf16 ? "mxjit::Bf16" : "mxjit::Fp16"}},
                         arch};
}

}  // namespace mxjit::ops
