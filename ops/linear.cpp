#include "mxjit/linear.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "mxjit/error.hpp"
#include "mxjit/gemm.hpp"
#include "mxjit/quantize.hpp"
#include "ops/gemm.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit {
namespace {

std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

}  // namespace

struct Mxfp8Linear::State {
  std::int64_t k = 0, n = 0, scale_stride = 0;
  DType dtype = DType::bf16;
  Options options;
  bool processed = false;
  runtime::DeviceBuffer weight_hp;      // [N, K] params_dtype until processing
  runtime::DeviceBuffer weight_q;       // [N, K] e4m3
  runtime::DeviceBuffer weight_scales;  // [N, scale_stride] e8m0
  // apply()'s workspace: x quantized, its scales, and the GEMM's split-K space.
  runtime::DeviceBuffer x_q, x_scales, gemm_workspace;

  TensorView scales_view(std::uint64_t ptr, std::int64_t rows) const {
    TensorView v = TensorView::contiguous(ptr, DType::e8m0, {rows, k / 32});
    v.strides = {scale_stride, 1};
    return v;
  }
};

Mxfp8Linear::Mxfp8Linear(std::int64_t input_size_per_partition, std::vector<std::int64_t> output_partition_sizes,
                         std::int64_t input_size, std::int64_t output_size, DType params_dtype)
    : Mxfp8Linear(input_size_per_partition, std::move(output_partition_sizes), input_size, output_size, params_dtype,
                  Options{}) {}

Mxfp8Linear::Mxfp8Linear(std::int64_t input_size_per_partition, std::vector<std::int64_t> output_partition_sizes,
                         std::int64_t input_size, std::int64_t output_size, DType params_dtype, Options options)
    : state_(std::make_unique<State>()) {
  using ops::invalid_argument;
  const std::int64_t k = input_size_per_partition;
  if (k <= 0 || k % 32 != 0)
    invalid_argument(fmt::format(
        "MXFP8 requires input_size_per_partition (K) to be divisible by 32, got input_size_per_partition = {}", k));
  if (output_partition_sizes.empty())
    invalid_argument("Mxfp8Linear: output_partition_sizes is empty");
  for (std::int64_t size : output_partition_sizes)
    if (size <= 0) invalid_argument(fmt::format("Mxfp8Linear: output partition size {} is not positive", size));
  const std::int64_t n = std::accumulate(output_partition_sizes.begin(), output_partition_sizes.end(), std::int64_t{0});
  if (input_size < k)
    invalid_argument(fmt::format("Mxfp8Linear: input_size {} is smaller than input_size_per_partition {}", input_size, k));
  if (output_size < n)
    invalid_argument(fmt::format("Mxfp8Linear: output_size {} is smaller than sum(output_partition_sizes) = {}",
                                 output_size, n));
  if (params_dtype != DType::bf16 && params_dtype != DType::fp16)
    invalid_argument(fmt::format("Mxfp8Linear: params_dtype must be bf16 or fp16, got {}", to_string(params_dtype)));
  if (options.max_tokens < 1)
    invalid_argument(fmt::format("Mxfp8Linear: max_tokens must be >= 1, got {}", options.max_tokens));

  State& s = *state_;
  s.k = k;
  s.n = n;
  s.scale_stride = round_up(k / 32, 4);
  s.dtype = params_dtype;
  s.options = options;
  s.weight_hp = runtime::DeviceBuffer(static_cast<std::size_t>(n * k * 2));
  s.x_q = runtime::DeviceBuffer(static_cast<std::size_t>(options.max_tokens * k));
  s.x_scales = runtime::DeviceBuffer(static_cast<std::size_t>(options.max_tokens * s.scale_stride));
  // The GEMM's split-K space for the worst M this layer will see.
  std::uint64_t workspace = 16;
  for (std::int64_t m = 1; m <= options.max_tokens; ++m) workspace = std::max(workspace, gemm_mxfp8_workspace_bytes(m, n, k));
  s.gemm_workspace = runtime::DeviceBuffer(workspace);
  MXJIT_CU(cuMemsetD8Async, s.gemm_workspace.get(), 0, workspace, nullptr);
  MXJIT_CU(cuStreamSynchronize, nullptr);
}

Mxfp8Linear::~Mxfp8Linear() = default;
Mxfp8Linear::Mxfp8Linear(Mxfp8Linear&&) noexcept = default;
Mxfp8Linear& Mxfp8Linear::operator=(Mxfp8Linear&&) noexcept = default;

std::int64_t Mxfp8Linear::in_features() const { return state_->k; }
std::int64_t Mxfp8Linear::out_features() const { return state_->n; }
DType Mxfp8Linear::params_dtype() const { return state_->dtype; }
bool Mxfp8Linear::processed() const { return state_->processed; }

TensorView Mxfp8Linear::weight() const {
  const State& s = *state_;
  return s.processed ? TensorView::contiguous(s.weight_q.get(), DType::e4m3, {s.n, s.k})
                     : TensorView::contiguous(s.weight_hp.get(), s.dtype, {s.n, s.k});
}

TensorView Mxfp8Linear::weight_scale() const {
  if (!state_->processed)
    ops::invalid_argument("Mxfp8Linear: weight_scale exists only after process_weights_after_loading()");
  return state_->scales_view(state_->weight_scales.get(), state_->n);
}

void Mxfp8Linear::load_weight(std::uint64_t src, CUstream stream) {
  if (state_->processed)
    ops::invalid_argument("Mxfp8Linear: load_weight after process_weights_after_loading(): the bf16 weight is gone");
  ops::require_pointer(src, 2, "Mxfp8Linear::load_weight source");
  MXJIT_CU(cuMemcpyDtoDAsync, state_->weight_hp.get(), src, state_->weight_hp.size(), stream);
}

void Mxfp8Linear::process_weights_after_loading(CUstream stream) {
  State& s = *state_;
  if (s.processed) return;
  s.weight_q = runtime::DeviceBuffer(static_cast<std::size_t>(s.n * s.k));
  s.weight_scales = runtime::DeviceBuffer(static_cast<std::size_t>(s.n * s.scale_stride));
  s.weight_scales.fill(0, stream);  // row padding stays zero
  quantize_mxfp8(TensorView::contiguous(s.weight_hp.get(), s.dtype, {s.n, s.k}),
                 TensorView::contiguous(s.weight_q.get(), DType::e4m3, {s.n, s.k}),
                 s.scales_view(s.weight_scales.get(), s.n), {ScaleLayout::linear, s.options.rule}, stream);
  MXJIT_CU(cuStreamSynchronize, stream);  // the quantize must finish before its source is freed
  s.weight_hp = runtime::DeviceBuffer();
  s.processed = true;
}

void Mxfp8Linear::apply(const TensorView& x, const TensorView* bias, const TensorView& out, CUstream stream) const {
  const State& s = *state_;
  if (!s.processed)
    ops::invalid_argument("Mxfp8Linear::apply before process_weights_after_loading(): the weight is not quantized");
  ops::require_dtype(x, {s.dtype}, "Mxfp8Linear::apply x");
  ops::require_matrix(x, -1, s.k, "Mxfp8Linear::apply x");
  const std::int64_t m = x.shape[0];
  if (m < 1 || m > s.options.max_tokens)
    ops::invalid_argument(fmt::format("Mxfp8Linear::apply: x has {} rows; this layer accepts 1 to max_tokens = {}", m,
                                      s.options.max_tokens));
  const TensorView xq = TensorView::contiguous(s.x_q.get(), DType::e4m3, {m, s.k});
  const TensorView xs = s.scales_view(s.x_scales.get(), m);
  quantize_mxfp8(x, xq, xs, {ScaleLayout::linear, s.options.rule}, stream);
  // A decode GEMM's launch and prologue overlap the quantize (ops::launch_gemm).
  ops::launch_gemm(std::nullopt, xq, xs, weight(), weight_scale(), bias, out, s.gemm_workspace.get(),
                   s.gemm_workspace.size(), stream);
}

}  // namespace mxjit
