// launch_route_topk: checks, the specialization for the expert count, one warp per token.
#include <fmt/format.h>

#include <iterator>
#include <limits>

#include "ops/kernel_table.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "templates/moe_aux_params.cuh"

namespace mxjit::ops {
namespace {

constexpr unsigned route_threads = 128;  // the template's __launch_bounds__: 4 tokens per CTA
constexpr int chunk_classes[] = {1, 2, 4, 8, 16};  // logits per lane: E <= 32, 64, 128, 256, 512
constexpr int class_count = static_cast<int>(std::size(chunk_classes));

int chunk_class(int experts) {
  int c = 0;
  while (32 * chunk_classes[c] < experts) ++c;  // experts <= 512 was checked
  return c;
}

int logit_index(DType logits) { return logits == DType::bf16 ? 0 : logits == DType::fp16 ? 1 : 2; }

KernelTable<3 * class_count>& route_kernels() {
  static KernelTable<3 * class_count> table;
  return table;
}

void check_output(const TensorView& t, DType dtype, std::int64_t tokens, int top_k, std::string_view what) {
  require_dtype(t, {dtype}, what);
  require_matrix(t, tokens, top_k, what);
  if (!t.is_contiguous()) invalid_argument(fmt::format("{} of shape {} must be contiguous", what, shape_text(t)));
  require_pointer(t.data, 4, what);
}

}  // namespace

void launch_route_topk(const TensorView& logits, int top_k, bool renormalize, const TensorView& topk_ids,
                       const TensorView& topk_weights, CUstream stream) {
  require_dtype(logits, {DType::bf16, DType::fp16, DType::f32}, "moe_route_topk: logits");
  require_matrix(logits, -1, -1, "moe_route_topk: logits");
  const std::int64_t tokens = logits.shape[0], experts = logits.shape[1];
  if (experts < 1 || experts > moe_route_max_experts)
    invalid_argument(fmt::format("moe_route_topk: the number of experts E = {} must be in [1, {}]", experts,
                                 moe_route_max_experts));
  if (top_k < 1) invalid_argument(fmt::format("moe_route_topk: top_k = {} must be >= 1", top_k));
  if (top_k > experts)
    invalid_argument(fmt::format("moe_route_topk: top_k = {} exceeds the number of experts E = {}", top_k, experts));
  if (top_k > moe_max_top_k)
    invalid_argument(fmt::format("moe_route_topk: top_k = {} exceeds the kernel's limit of {}", top_k, moe_max_top_k));
  if (tokens > std::numeric_limits<std::int32_t>::max())
    invalid_argument(fmt::format("moe_route_topk: {} tokens exceed the limit of 2^31 - 1", tokens));
  require_pointer(logits.data, static_cast<unsigned>(element_size(logits.dtype)), "moe_route_topk: logits");
  check_output(topk_ids, DType::i32, tokens, top_k, "moe_route_topk: topk_ids");
  check_output(topk_weights, DType::f32, tokens, top_k, "moe_route_topk: topk_weights");
  if (tokens == 0) return;

  RouteTopkParams params{};
  params.logits = reinterpret_cast<const void*>(logits.data);
  params.row_stride = logits.strides[0];
  params.tokens = static_cast<unsigned>(tokens);
  params.experts = static_cast<unsigned>(experts);
  params.top_k = static_cast<unsigned>(top_k);
  params.renormalize = renormalize ? 1u : 0u;
  params.topk_ids = reinterpret_cast<int*>(topk_ids.data);
  params.topk_weights = reinterpret_cast<float*>(topk_weights.data);

  const int device = runtime::current_device();
  const jit::Arch& arch = runtime::device_info(device).arch;
  const int experts_int = static_cast<int>(experts);
  const runtime::Kernel& kernel =
      route_kernels().get(device, logit_index(logits.dtype) * class_count + chunk_class(experts_int),
                          {route_threads, 0}, [&] { return route_topk_kernel_spec(logits.dtype, experts_int, arch); });
  runtime::LaunchConfig config;
  const unsigned tokens_per_cta = route_threads / 32;
  config.grid[0] = static_cast<unsigned>((tokens + tokens_per_cta - 1) / tokens_per_cta);
  config.block[0] = route_threads;
  config.stream = stream;
  config.early_start = true;  // the kernel starts in stream order on the device (templates/grid_dependency.cuh)
  void* args[] = {&params};
  kernel.launch(config, args);
}

jit::KernelSpec route_topk_kernel_spec(DType logits, int experts, const jit::Arch& arch) {
  if (logits != DType::bf16 && logits != DType::fp16 && logits != DType::f32)
    invalid_argument(fmt::format("moe_route_topk kernel: logits dtype {} is not supported (bf16, fp16 or f32)",
                                 to_string(logits)));
  if (experts < 1 || experts > moe_route_max_experts)
    invalid_argument(fmt::format("moe_route_topk kernel: E = {} must be in [1, {}]", experts, moe_route_max_experts));
  const char* logit_type = logits == DType::bf16 ? "mxjit::LogitBf16" : logits == DType::fp16 ? "mxjit::LogitFp16"
                                                                                             : "mxjit::LogitF32";
  return jit::KernelSpec{"moe_route_topk",
                         "mxjit::moe_route_topk_kernel",
                         {{"logits", logit_type}, {"chunks", std::to_string(chunk_classes[chunk_class(experts)])}},
                         arch};
}

}  // namespace mxjit::ops
