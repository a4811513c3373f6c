#include "mxjit/moe.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mxjit/error.hpp"
#include "mxjit/grouped_gemm.hpp"
#include "mxjit/quantize.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/moe_plan.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit {
namespace {

using ops::invalid_argument;

std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

std::size_t bytes(std::int64_t count, DType dtype) { return static_cast<std::size_t>(count) * element_size(dtype); }

// An MXFP8 weight stack [E, rows, cols] and its scales [E, rows, cols/32], rows padded to 4 bytes.
struct ExpertWeights {
  std::int64_t experts = 0, rows = 0, cols = 0;
  runtime::DeviceBuffer high_precision, q, scales;

  std::int64_t scale_stride() const { return round_up(cols / 32, 4); }
  TensorView q_view() const { return TensorView::contiguous(q.get(), DType::e4m3, {experts, rows, cols}); }
  TensorView hp_view(DType dtype) const {
    return TensorView::contiguous(high_precision.get(), dtype, {experts, rows, cols});
  }
  TensorView scales_view() const {
    TensorView v = TensorView::contiguous(scales.get(), DType::e8m0, {experts, rows, cols / 32});
    v.strides = {rows * scale_stride(), scale_stride(), 1};
    return v;
  }
};

}  // namespace

struct Mxfp8MoE::State {
  std::int64_t experts = 0, global_experts = 0, top_k = 0, hidden = 0, inter = 0;
  DType dtype = DType::bf16;
  Options options;
  bool processed = false;
  ExpertWeights w13, w2;
  // apply()'s workspace, for max_tokens tokens and P = max_tokens * top_k (token, slot) pairs.
  runtime::DeviceBuffer topk_ids, topk_weights;   // [T, k] i32, f32 (router path)
  runtime::DeviceBuffer offsets;                   // [E + 1] i32
  runtime::DeviceBuffer pair_row, row_token;       // [P] i32
  runtime::DeviceBuffer x_q, x_scales;             // [T, H] e4m3, [T, H/32 padded]
  runtime::DeviceBuffer h_or_y;                    // h [P, 2I], later y [P, H], params_dtype
  runtime::DeviceBuffer a_q, a_scales;             // [P, I] e4m3, [P, I/32 padded]
  runtime::DeviceBuffer gemm_workspace;            // the grouped GEMMs' bf16 operand or decode partials

  ops::MoeDims dims() const { return {experts, global_experts, hidden, inter, top_k}; }

  // Scales [rows, cols/32] with rows padded to 4 bytes, as the GEMMs read them.
  static TensorView padded_scales(std::uint64_t ptr, std::int64_t rows, std::int64_t cols) {
    TensorView v = TensorView::contiguous(ptr, DType::e8m0, {rows, cols / 32});
    v.strides = {round_up(cols / 32, 4), 1};
    return v;
  }
};

Mxfp8MoE::Mxfp8MoE(std::int64_t num_experts, std::int64_t top_k, std::int64_t hidden_size,
                   std::int64_t intermediate_size_per_partition, DType params_dtype)
    : Mxfp8MoE(num_experts, top_k, hidden_size, intermediate_size_per_partition, params_dtype, Options{}) {}

Mxfp8MoE::Mxfp8MoE(std::int64_t num_experts, std::int64_t top_k, std::int64_t hidden_size,
                   std::int64_t intermediate_size_per_partition, DType params_dtype, Options options)
    : state_(std::make_unique<State>()) {
  const std::int64_t e = num_experts, h = hidden_size, i = intermediate_size_per_partition;
  if (h <= 0 || h % 32 != 0)
    invalid_argument(fmt::format("MXFP8 requires hidden_size (H) to be divisible by 32, got hidden_size = {}", h));
  if (i <= 0 || i % 32 != 0)
    invalid_argument(fmt::format(
        "MXFP8 requires intermediate_size_per_partition (I) to be divisible by 32, got intermediate_size_per_partition = {}", i));
  if (e < 1 || e > ops::moe_group_max_experts)
    invalid_argument(fmt::format("Mxfp8MoE: num_experts = {}; 1 to {} local experts are supported", e,
                                 ops::moe_group_max_experts));
  const std::int64_t global = options.global_num_experts == 0 ? e : options.global_num_experts;
  if (global < e || global > ops::moe_route_max_experts)
    invalid_argument(fmt::format("Mxfp8MoE: global_num_experts = {} must be within [num_experts = {}, {}]", global, e,
                                 ops::moe_route_max_experts));
  if (top_k < 1 || top_k > std::min<std::int64_t>(global, ops::moe_max_top_k))
    invalid_argument(fmt::format("Mxfp8MoE: top_k = {} must be within [1, min(global experts = {}, {})]", top_k, global,
                                 ops::moe_max_top_k));
  if (params_dtype != DType::bf16 && params_dtype != DType::fp16)
    invalid_argument(fmt::format("Mxfp8MoE: params_dtype must be bf16 or fp16, got {}", to_string(params_dtype)));
  if (options.max_tokens < 1 || options.max_tokens * top_k >= (std::int64_t{1} << 30))
    invalid_argument(fmt::format("Mxfp8MoE: max_tokens = {} must be >= 1 with max_tokens * top_k < 2^30",
                                 options.max_tokens));

  State& s = *state_;
  s.experts = e;
  s.global_experts = global;
  s.top_k = top_k;
  s.hidden = h;
  s.inter = i;
  s.dtype = params_dtype;
  s.options = options;
  s.w13 = ExpertWeights{e, 2 * i, h, runtime::DeviceBuffer(bytes(e * 2 * i * h, params_dtype)), {}, {}};
  s.w2 = ExpertWeights{e, h, i, runtime::DeviceBuffer(bytes(e * h * i, params_dtype)), {}, {}};

  const std::int64_t t = options.max_tokens, pairs = t * top_k;
  s.topk_ids = runtime::DeviceBuffer(bytes(pairs, DType::i32));
  s.topk_weights = runtime::DeviceBuffer(bytes(pairs, DType::f32));
  s.offsets = runtime::DeviceBuffer(bytes(e + 1, DType::i32));
  s.pair_row = runtime::DeviceBuffer(bytes(pairs, DType::i32));
  s.row_token = runtime::DeviceBuffer(bytes(pairs, DType::i32));
  s.x_q = runtime::DeviceBuffer(static_cast<std::size_t>(t * h));
  s.x_scales = runtime::DeviceBuffer(static_cast<std::size_t>(t * round_up(h / 32, 4)));
  s.h_or_y = runtime::DeviceBuffer(bytes(pairs * std::max(2 * i, h), params_dtype));
  s.a_q = runtime::DeviceBuffer(static_cast<std::size_t>(pairs * i));
  s.a_scales = runtime::DeviceBuffer(static_cast<std::size_t>(pairs * round_up(i / 32, 4)));
  // The grouped GEMMs' workspace at every T up to max_tokens (the tile grows with T, ops/moe_plan.hpp): the
  // decode tiles' partials, the prefill tiles' dequantized operand (one row per (token, slot) pair).
  const runtime::DeviceInfo& info = runtime::device_info(runtime::current_device());
  std::uint64_t workspace = 0;
  for (std::int64_t tokens = 1; tokens <= t; ++tokens) {
    const ops::GemmTile& tile = ops::grouped_gemm_tiles[ops::moe_grouped_gemm_tile(s.dims(), tokens, info.arch)];
    for (std::int64_t k : {h, i})
      workspace =
          std::max(workspace, ops::grouped_gemm_workspace_bytes(tile, tokens * top_k, k, info.sm_count, info.smem_per_sm));
  }
  if (workspace > 0) s.gemm_workspace = runtime::DeviceBuffer(static_cast<std::size_t>(workspace));
}

Mxfp8MoE::~Mxfp8MoE() = default;
Mxfp8MoE::Mxfp8MoE(Mxfp8MoE&&) noexcept = default;
Mxfp8MoE& Mxfp8MoE::operator=(Mxfp8MoE&&) noexcept = default;

std::int64_t Mxfp8MoE::num_experts() const { return state_->experts; }
std::int64_t Mxfp8MoE::top_k() const { return state_->top_k; }
std::int64_t Mxfp8MoE::hidden_size() const { return state_->hidden; }
std::int64_t Mxfp8MoE::intermediate_size() const { return state_->inter; }
DType Mxfp8MoE::params_dtype() const { return state_->dtype; }
bool Mxfp8MoE::processed() const { return state_->processed; }

TensorView Mxfp8MoE::w13_weight() const {
  return state_->processed ? state_->w13.q_view() : state_->w13.hp_view(state_->dtype);
}
TensorView Mxfp8MoE::w2_weight() const {
  return state_->processed ? state_->w2.q_view() : state_->w2.hp_view(state_->dtype);
}
TensorView Mxfp8MoE::w13_weight_scale() const {
  if (!state_->processed) invalid_argument("Mxfp8MoE: w13_weight_scale exists only after process_weights_after_loading()");
  return state_->w13.scales_view();
}
TensorView Mxfp8MoE::w2_weight_scale() const {
  if (!state_->processed) invalid_argument("Mxfp8MoE: w2_weight_scale exists only after process_weights_after_loading()");
  return state_->w2.scales_view();
}

void Mxfp8MoE::load_weights(std::uint64_t w13_src, std::uint64_t w2_src, CUstream stream) {
  State& s = *state_;
  if (s.processed)
    invalid_argument("Mxfp8MoE: load_weights after process_weights_after_loading(): the high-precision weights are gone");
  ops::require_pointer(w13_src, 2, "Mxfp8MoE::load_weights w13 source");
  ops::require_pointer(w2_src, 2, "Mxfp8MoE::load_weights w2 source");
  MXJIT_CU(cuMemcpyDtoDAsync, s.w13.high_precision.get(), w13_src, s.w13.high_precision.size(), stream);
  MXJIT_CU(cuMemcpyDtoDAsync, s.w2.high_precision.get(), w2_src, s.w2.high_precision.size(), stream);
}

void Mxfp8MoE::process_weights_after_loading(CUstream stream) {
  State& s = *state_;
  if (s.processed) return;
  for (ExpertWeights* w : {&s.w13, &s.w2}) {
    w->q = runtime::DeviceBuffer(static_cast<std::size_t>(w->experts * w->rows * w->cols));
    w->scales = runtime::DeviceBuffer(static_cast<std::size_t>(w->experts * w->rows * w->scale_stride()));
    w->scales.fill(0, stream);  // row padding stays zero
    // All experts in one launch: the batched quantize takes [E, rows, cols].
    quantize_mxfp8(w->hp_view(s.dtype), w->q_view(), w->scales_view(), {ScaleLayout::linear, s.options.rule}, stream);
  }
  MXJIT_CU(cuStreamSynchronize, stream);  // the quantizes must finish before their sources are freed
  s.w13.high_precision = runtime::DeviceBuffer();
  s.w2.high_precision = runtime::DeviceBuffer();
  s.processed = true;
}

void Mxfp8MoE::apply(const Inputs& in, const TensorView& out, CUstream stream) const {
  const State& s = *state_;
  if (!s.processed)
    invalid_argument("Mxfp8MoE::apply before process_weights_after_loading(): the weights are not quantized");
  ops::require_dtype(in.x, {s.dtype}, "Mxfp8MoE::apply x");
  ops::require_matrix(in.x, -1, s.hidden, "Mxfp8MoE::apply x");
  const std::int64_t t = in.x.shape[0], k = s.top_k, pairs = t * k;
  if (t < 1 || t > s.options.max_tokens)
    invalid_argument(fmt::format("Mxfp8MoE::apply: x has {} tokens; this layer accepts 1 to max_tokens = {}", t,
                                 s.options.max_tokens));
  ops::require_dtype(out, {s.dtype}, "Mxfp8MoE::apply out");
  ops::require_matrix(out, t, s.hidden, "Mxfp8MoE::apply out");
  if (!out.is_contiguous()) invalid_argument("Mxfp8MoE::apply: out must be contiguous");
  if ((in.router_logits != nullptr) == (in.topk_ids != nullptr || in.topk_weights != nullptr))
    invalid_argument("Mxfp8MoE::apply: pass either router_logits or both topk_ids and topk_weights");
  if (in.expert_map) {
    ops::require_dtype(*in.expert_map, {DType::i32}, "Mxfp8MoE::apply expert_map");
    if (in.expert_map->ndim != 1 || in.expert_map->shape[0] != s.global_experts)
      invalid_argument(fmt::format("Mxfp8MoE::apply: expert_map must be [global_num_experts = {}], got shape {}",
                                   s.global_experts, ops::shape_text(*in.expert_map)));
  } else if (s.global_experts != s.experts) {
    invalid_argument(fmt::format("Mxfp8MoE::apply: this layer holds {} of {} experts and needs an expert_map",
                                 s.experts, s.global_experts));
  }

  // 1. Routing: top-k ids (global) and weights.
  TensorView ids = TensorView::contiguous(s.topk_ids.get(), DType::i32, {t, k});
  TensorView weights = TensorView::contiguous(s.topk_weights.get(), DType::f32, {t, k});
  if (in.router_logits) {
    ops::require_matrix(*in.router_logits, t, s.global_experts, "Mxfp8MoE::apply router_logits");
    ops::launch_route_topk(*in.router_logits, static_cast<int>(k), in.renormalize, ids, weights, stream);
  } else {
    if (!in.topk_ids || !in.topk_weights)
      invalid_argument("Mxfp8MoE::apply: topk_ids and topk_weights come together");
    for (const TensorView* v : {in.topk_ids, in.topk_weights})
      if (v->ndim != 2 || v->shape[0] != t || v->shape[1] != k || !v->is_contiguous())
        invalid_argument(fmt::format("Mxfp8MoE::apply: topk_ids and topk_weights must be contiguous [{}, {}], got {}", t,
                                     k, ops::shape_text(*v)));
    ops::require_dtype(*in.topk_ids, {DType::i32}, "Mxfp8MoE::apply topk_ids");
    ops::require_dtype(*in.topk_weights, {DType::f32}, "Mxfp8MoE::apply topk_weights");
    ids = *in.topk_ids;
    weights = *in.topk_weights;
  }

  // 2. Pairs grouped by local expert: offsets, the grouped row of each pair, the token of each row.
  const ops::MoeGrouping grouping{s.offsets.get(), s.pair_row.get(), s.row_token.get()};
  ops::launch_group_by_expert(ids, in.expert_map, static_cast<int>(s.experts), grouping, stream);
  const ExpertGroups groups = ExpertGroups::contiguous(TensorView::contiguous(s.offsets.get(), DType::i32, {s.experts + 1}),
                                                       ops::moe_typical_rows(t, k, s.global_experts));
  const TensorView row_token = TensorView::contiguous(s.row_token.get(), DType::i32, {pairs});
  const std::uint64_t rows_in_use = s.offsets.get() + static_cast<std::uint64_t>(s.experts) * 4;
  // The tiles warmup compiles for this shape (ops/moe_plan.hpp).
  const int tile = ops::moe_grouped_gemm_tile(s.dims(), t, runtime::device_info(runtime::current_device()).arch);
  const std::uint64_t ws = s.gemm_workspace.get(), ws_bytes = s.gemm_workspace.size();

  // 3. h = x . W13[e]^T over the gathered token rows.
  const TensorView xq = TensorView::contiguous(s.x_q.get(), DType::e4m3, {t, s.hidden});
  const TensorView xs = State::padded_scales(s.x_scales.get(), t, s.hidden);
  quantize_mxfp8(in.x, xq, xs, {ScaleLayout::linear, s.options.rule}, stream);
  const TensorView h = TensorView::contiguous(s.h_or_y.get(), s.dtype, {pairs, 2 * s.inter});
  ops::launch_grouped_gemm(xq, xs, &row_token, s.w13.q_view(), s.w13.scales_view(), in.w13_bias, groups, h, ws, ws_bytes,
                           stream, tile);

  // 4. a = silu(gate) * up, quantized to MXFP8.
  const TensorView aq = TensorView::contiguous(s.a_q.get(), DType::e4m3, {pairs, s.inter});
  const TensorView as = State::padded_scales(s.a_scales.get(), pairs, s.inter);
  ops::launch_silu_mul_quantize(h, rows_in_use, aq, as, s.options.rule, stream);

  // 5. y = a . W2[e]^T (h is dead: y takes its memory), 6. the weighted sum over each token's slots.
  const TensorView y = TensorView::contiguous(s.h_or_y.get(), s.dtype, {pairs, s.hidden});
  ops::launch_grouped_gemm(aq, as, nullptr, s.w2.q_view(), s.w2.scales_view(), in.w2_bias, groups, y, ws, ws_bytes,
                           stream, tile);
  ops::launch_moe_combine(y, s.pair_row.get(), weights, out, stream);
}

}  // namespace mxjit
