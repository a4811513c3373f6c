#include "ops/quantize.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mxjit/error.hpp"
#include "ops/fast_divisor.hpp"
#include "ops/kernel_table.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "templates/mxfp8_quantize_params.cuh"

namespace mxjit {
namespace {

constexpr std::uint64_t u32_limit = 0xFFFFFFFFull;

using ops::invalid_argument;
using ops::same_shape;
using ops::shape_text;

[[noreturn]] void invalid(const std::string& message) { invalid_argument(message); }

std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

void require_aligned(std::uint64_t ptr, const char* what) { ops::require_pointer(ptr, 16, what); }

struct Shape3 {
  std::int64_t batches, rows, cols;
};

Shape3 check_input(const TensorView& in) {
  if (in.ndim != 2 && in.ndim != 3)
    invalid(fmt::format("quantize_mxfp8: input must be 2-D [R, K] or 3-D [B, R, K], got {} dimensions", in.ndim));
  if (in.dtype != DType::bf16 && in.dtype != DType::fp16)
    invalid(fmt::format("quantize_mxfp8: input dtype {} is not supported (bf16 or fp16)", to_string(in.dtype)));
  const Shape3 s{in.ndim == 3 ? in.shape[0] : 1, in.size(-2), in.size(-1)};
  // Bounds every product below well inside 64 bits; the launch limit (2^32 blocks) is checked later.
  constexpr std::int64_t dim_limit = std::int64_t{1} << 40;
  if (s.batches < 0 || s.rows < 0 || s.cols < 0 || s.cols >= dim_limit || s.rows >= dim_limit ||
      (s.rows > 0 && s.batches >= dim_limit / s.rows))
    invalid(fmt::format("quantize_mxfp8: input shape {} is out of range", shape_text(in)));
  if (s.cols % 32 != 0)
    invalid(fmt::format("MXFP8 requires K (the last dimension) to be divisible by 32, got K = {}", s.cols));
  if (in.stride(-1) != 1)
    invalid(fmt::format("quantize_mxfp8: the last dimension of the input must be contiguous (stride 1), got {}",
                        in.stride(-1)));
  if (s.rows > 1 && (in.stride(-2) < s.cols || in.stride(-2) % 8 != 0))
    invalid(fmt::format("quantize_mxfp8: input row stride {} must be >= K = {} and a multiple of 8 elements",
                        in.stride(-2), s.cols));
  if (in.ndim == 3 && s.batches > 1 && in.stride(0) % 8 != 0)
    invalid(fmt::format("quantize_mxfp8: input batch stride {} must be a multiple of 8 elements", in.stride(0)));
  require_aligned(in.data, "quantize_mxfp8: input");
  return s;
}

void check_outputs(const TensorView& in, const Shape3& s, const TensorView& q, const TensorView& scales,
                   ScaleLayout layout) {
  if (q.dtype != DType::e4m3 && q.dtype != DType::u8)
    invalid(fmt::format("quantize_mxfp8: q dtype must be e4m3 (or u8), got {}", to_string(q.dtype)));
  if (!same_shape(q, in))
    invalid(fmt::format("quantize_mxfp8: q has shape {}, the input {}: they must match", shape_text(q), shape_text(in)));
  if (!q.is_contiguous()) invalid(fmt::format("quantize_mxfp8: q of shape {} must be contiguous", shape_text(q)));
  require_aligned(q.data, "quantize_mxfp8: q");
  if (scales.dtype != DType::e8m0 && scales.dtype != DType::u8)
    invalid(fmt::format("quantize_mxfp8: scales dtype must be e8m0 (or u8), got {}", to_string(scales.dtype)));
  const std::uint64_t need = mxfp8_scale_bytes(s.batches, s.rows, s.cols, layout);
  if (layout == ScaleLayout::linear) {
    bool ok = scales.ndim == in.ndim && scales.size(-1) == s.cols / 32 && scales.size(-2) == s.rows &&
              (in.ndim == 2 || scales.shape[0] == s.batches);
    if (!ok) invalid(fmt::format("quantize_mxfp8: linear scales must have shape [.., {}, {}]", s.rows, s.cols / 32));
    // Rows may be padded (e.g. to 4 bytes for the GEMM); batches must follow each other without gaps.
    const std::int64_t row_stride = scales.stride(-2);
    if (scales.stride(-1) != 1 || (s.rows > 1 && row_stride < s.cols / 32) ||
        (in.ndim == 3 && s.batches > 1 && scales.stride(0) != s.rows * row_stride))
      invalid(fmt::format("quantize_mxfp8: linear scales need unit column stride, a row stride >= {} and batches "
                          "packed back to back",
                          s.cols / 32));
  } else if (!scales.is_contiguous()) {
    invalid("quantize_mxfp8: swizzled scales must be contiguous");
  } else if (static_cast<std::uint64_t>(scales.numel()) != need) {
    invalid(fmt::format("quantize_mxfp8: swizzled scales must hold exactly {} bytes (B * round_up(R,128) * "
                        "round_up(K/32,4)), got {}",
                        need, scales.numel()));
  }
}

QuantizeParams make_params(const TensorView& in, const Shape3& s, const TensorView& q, const TensorView& scales) {
  QuantizeParams p{};
  const std::uint64_t blocks = static_cast<std::uint64_t>(s.batches * s.rows * (s.cols / 32));
  const std::uint64_t padded_cols = static_cast<std::uint64_t>(round_up(s.cols / 32, 4));
  const std::uint64_t batch_scale_bytes = static_cast<std::uint64_t>(round_up(s.rows, 128)) * padded_cols;
  const std::uint64_t linear_scale_bytes =
      scales.ndim >= 2 ? static_cast<std::uint64_t>(scales.stride(-2) * s.rows * s.batches) : 0;
  if (blocks > u32_limit || batch_scale_bytes * s.batches > u32_limit || linear_scale_bytes > u32_limit)
    invalid(fmt::format("quantize_mxfp8: {} blocks of 32 exceed one launch's limit of 2^32; split the tensor", blocks));
  p.input = reinterpret_cast<const void*>(in.data);
  p.q = reinterpret_cast<unsigned char*>(q.data);
  p.scales = reinterpret_cast<unsigned char*>(scales.data);
  p.in_batch_stride = in.ndim == 3 ? in.strides[0] : 0;
  p.in_row_stride = in.stride(-2);
  p.total_blocks = static_cast<unsigned>(blocks);
  p.rows = static_cast<unsigned>(s.rows);
  p.blocks_per_row = ops::make_fast_divisor(static_cast<std::uint32_t>(s.cols / 32));
  p.rows_per_batch = ops::make_fast_divisor(static_cast<std::uint32_t>(s.rows));
  p.scale_row_stride = static_cast<unsigned>(scales.ndim >= 2 ? scales.stride(-2) : s.cols / 32);
  p.scales_packed = p.scale_row_stride == static_cast<unsigned>(s.cols / 32) && scales.data % 4 == 0 ? 1u : 0u;
  p.row_tiles = static_cast<unsigned>(round_up(s.rows, 128) / 128);
  p.col_tiles = static_cast<unsigned>(padded_cols / 4);
  p.total_tiles = static_cast<unsigned>(s.batches * p.row_tiles * p.col_tiles);
  return p;
}

constexpr int unroll_choices = static_cast<int>(std::size(ops::quantize_unrolls));

int unroll_index(int unroll) {
  for (int i = 0; i < unroll_choices; ++i)
    if (ops::quantize_unrolls[i] == unroll) return i;
  invalid(fmt::format("quantize: unroll {} is not one of 1, 2, 4, 8", unroll));
}

int variant_index(DType in, ScaleLayout layout, ScaleRule rule, int unroll) {
  return ((in == DType::fp16 ? 4 : 0) + static_cast<int>(layout) * 2 + static_cast<int>(rule)) * unroll_choices +
         unroll_index(unroll);
}

ops::KernelTable<8 * unroll_choices>& quantize_kernels() {
  static ops::KernelTable<8 * unroll_choices> table;
  return table;
}

}  // namespace

std::uint64_t mxfp8_scale_bytes(std::int64_t batches, std::int64_t rows, std::int64_t cols, ScaleLayout layout) {
  if (batches < 0 || rows < 0 || cols < 0 || cols % 32 != 0)
    invalid(fmt::format("mxfp8_scale_bytes: need non-negative sizes and cols % 32 == 0, got [{}, {}, {}]", batches,
                        rows, cols));
  if (layout == ScaleLayout::linear) return static_cast<std::uint64_t>(batches * rows * (cols / 32));
  return static_cast<std::uint64_t>(batches * round_up(rows, 128) * round_up(cols / 32, 4));
}

void quantize_mxfp8(const TensorView& input, const TensorView& q, const TensorView& scales,
                    const QuantizeOptions& options, CUstream stream) {
  ops::launch_quantize(input, q, scales, options, ops::quantize_default_unroll, stream);
}

namespace ops {

std::optional<QuantizeLaunch> prepare_quantize(const TensorView& input, const TensorView& q, const TensorView& scales,
                                               const QuantizeOptions& options, int unroll) {
  const Shape3 s = check_input(input);
  check_outputs(input, s, q, scales, options.layout);
  if (s.batches * s.rows * s.cols == 0) return std::nullopt;
  QuantizeLaunch launch{nullptr, {}, make_params(input, s, q, scales)};
  const QuantizeParams& params = launch.params;

  const int device = runtime::current_device();
  const runtime::DeviceInfo& info = runtime::device_info(device);
  const runtime::Kernel& kernel = quantize_kernels().get(
      device, variant_index(input.dtype, options.layout, options.rule, unroll), {quantize_block_threads, 0},
      [&] { return quantize_kernel_spec(input.dtype, options.layout, options.rule, info.arch, unroll); });

  // One wave of as many CTAs as fit on the chip at once, no more (a partial second wave would leave
  // SMs idle at the end); the kernel strides over the rest. Linear: a CTA step covers 64 blocks per
  // unroll; swizzled: a CTA step is one 128x4 scale tile.
  const std::uint64_t blocks_per_cta_step = (quantize_block_threads / 4) * static_cast<unsigned>(unroll);
  const std::uint64_t wanted = options.layout == ScaleLayout::linear
                                   ? (params.total_blocks + blocks_per_cta_step - 1) / blocks_per_cta_step
                                   : params.total_tiles;
  const std::uint64_t resident = std::uint64_t(info.sm_count) * static_cast<unsigned>(kernel.blocks_per_sm());
  launch.kernel = &kernel;
  launch.config.grid[0] = static_cast<unsigned>(std::clamp<std::uint64_t>(wanted, 1, resident));
  launch.config.block[0] = quantize_block_threads;
  launch.config.early_start = true;  // the kernel starts in stream order on the device (templates/grid_dependency.cuh)
  return launch;
}

void launch_quantize(const TensorView& input, const TensorView& q, const TensorView& scales,
                     const QuantizeOptions& options, int unroll, CUstream stream) {
  std::optional<QuantizeLaunch> launch = prepare_quantize(input, q, scales, options, unroll);
  if (!launch) return;  // nothing to quantize
  launch->config.stream = stream;
  void* args[] = {&launch->params};
  launch->kernel->launch(launch->config, args);
}

jit::KernelSpec quantize_kernel_spec(DType input, ScaleLayout layout, ScaleRule rule, const jit::Arch& arch,
                                     int unroll) {
  if (input != DType::bf16 && input != DType::fp16)
    invalid(fmt::format("quantize kernel: input dtype {} is not supported (bf16 or fp16)", to_string(input)));
  if (arch.sm() < 89)
    throw Error(ErrorCode::unsupported,
                fmt::format("MXFP8 quantize needs fp8 conversion instructions (sm_89 or newer), not {}", arch.name()));
  return jit::KernelSpec{
      "mxfp8_quantize",
      "mxjit::mxfp8_quantize_kernel",
      {{"in", input == DType::bf16 ? "mxjit::Bf16" : "mxjit::Fp16"},
       {"layout", layout == ScaleLayout::linear ? "mxjit::kLayoutLinear" : "mxjit::kLayoutSwizzled128x4"},
       {"rule", rule == ScaleRule::rceil ? "mxjit::kRuleRceil" : "mxjit::kRuleFloor"},
       {"unroll", std::to_string(unroll)}},
      arch};
}

std::vector<jit::KernelSpec> all_quantize_kernel_specs(const jit::Arch& arch) {
  std::vector<jit::KernelSpec> specs;
  for (DType in : {DType::bf16, DType::fp16})
    for (ScaleLayout layout : {ScaleLayout::linear, ScaleLayout::swizzled_128x4})
      for (ScaleRule rule : {ScaleRule::rceil, ScaleRule::floor})
        specs.push_back(quantize_kernel_spec(in, layout, rule, arch));
  return specs;
}

}  // namespace ops
}  // namespace mxjit
