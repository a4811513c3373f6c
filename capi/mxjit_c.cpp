// The C API: translates C structs to the C++ API and every exception to a status + message.
#include "mxjit/mxjit.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mxjit/mxjit.hpp"
#include "runtime/device.hpp"

namespace {

thread_local std::string last_error;

template <class Body>
mxjit_status guarded(Body&& body) noexcept {
  try {
    body();
    last_error.clear();
    return MXJIT_OK;
  } catch (const mxjit::Error& e) {
    last_error = e.what();
    return static_cast<mxjit_status>(e.code());
  } catch (const std::exception& e) {
    last_error = fmt::format("internal error: {}", e.what());
    return MXJIT_ERROR_INTERNAL;
  } catch (...) {
    last_error = "internal error: unknown exception";
    return MXJIT_ERROR_INTERNAL;
  }
}

void require(const void* p, const char* what) {
  if (p == nullptr) throw mxjit::Error(mxjit::ErrorCode::invalid_argument, fmt::format("{} is NULL", what));
}

mxjit::TensorView to_view(const mxjit_tensor* t, const char* what) {
  require(t, what);
  if (t->ndim < 1 || t->ndim > mxjit::TensorView::max_dims)
    throw mxjit::Error(mxjit::ErrorCode::invalid_argument, fmt::format("{}: ndim {} not in [1, 3]", what, t->ndim));
  if (t->dtype < MXJIT_DTYPE_BF16 || t->dtype > MXJIT_DTYPE_I32)
    throw mxjit::Error(mxjit::ErrorCode::invalid_argument,
                       fmt::format("{}: unknown dtype {}", what, static_cast<int>(t->dtype)));
  mxjit::TensorView v;
  v.data = t->data;
  v.dtype = static_cast<mxjit::DType>(t->dtype);
  v.ndim = t->ndim;
  for (int d = 0; d < t->ndim; ++d) {
    v.shape[d] = t->shape[d];
    v.strides[d] = t->strides[d];
  }
  return v;
}

mxjit_tensor to_tensor(const mxjit::TensorView& v) {
  mxjit_tensor t{v.data, static_cast<mxjit_dtype>(v.dtype), v.ndim, {0, 0, 0}, {0, 0, 0}};
  for (int d = 0; d < v.ndim; ++d) {
    t.shape[d] = v.shape[d];
    t.strides[d] = v.strides[d];
  }
  return t;
}

template <class Enum>
Enum checked_enum(int value, int count, const char* what) {
  if (value < 0 || value >= count)
    throw mxjit::Error(mxjit::ErrorCode::invalid_argument,
                       fmt::format("{} = {} is not valid (0..{})", what, value, count - 1));
  return static_cast<Enum>(value);
}

}  // namespace

extern "C" {

const char* mxjit_version(void) { return mxjit::version(); }
const char* mxjit_last_error(void) { return last_error.c_str(); }

const char* mxjit_status_name(mxjit_status status) {
  return status == MXJIT_OK ? "ok" : mxjit::to_string(static_cast<mxjit::ErrorCode>(status));
}

mxjit_status mxjit_init(const mxjit_init_options* options) {
  return guarded([&] {
    mxjit::InitOptions o;
    if (options) {
      if (options->cache_dir) o.cache_dir = options->cache_dir;
      if (options->disk_cache >= 0) o.disk_cache = options->disk_cache != 0;
      if (options->log_level >= 0) o.log_level = checked_enum<mxjit::LogLevel>(options->log_level, 4, "log_level");
    }
    mxjit::init(o);
  });
}

int mxjit_gpu_count(void) { return mxjit::gpu_count(); }

mxjit_status mxjit_gpu_get_info(int ordinal, mxjit_gpu_info* info) {
  return guarded([&] {
    require(info, "info");
    const mxjit::GpuInfo g = mxjit::gpu_info(ordinal);
    std::memset(info, 0, sizeof(*info));
    std::strncpy(info->name, g.name.c_str(), sizeof(info->name) - 1);
    std::strncpy(info->arch, g.arch.c_str(), sizeof(info->arch) - 1);
    info->sm_count = g.sm_count;
    info->l2_bytes = g.l2_bytes;
    info->max_smem_per_block = g.max_smem_per_block;
  });
}

mxjit_status mxjit_device_activate(int ordinal) {
  return guarded([&] {
    // The retained primary context lives as long as the process; engines share it with the runtime API.
    static thread_local std::unique_ptr<mxjit::runtime::PrimaryContext> contexts[64];
    if (ordinal < 0 || ordinal >= 64 || ordinal >= mxjit::gpu_count())
      throw mxjit::Error(mxjit::ErrorCode::invalid_argument,
                         fmt::format("device ordinal {} out of range: {} GPU(s)", ordinal, mxjit::gpu_count()));
    if (!contexts[ordinal]) contexts[ordinal] = std::make_unique<mxjit::runtime::PrimaryContext>(ordinal);
    contexts[ordinal]->make_current();
  });
}

mxjit_status mxjit_mxfp8_scale_bytes(int64_t batches, int64_t rows, int64_t cols, mxjit_scale_layout layout,
                                     uint64_t* bytes) {
  return guarded([&] {
    require(bytes, "bytes");
    *bytes = mxjit::mxfp8_scale_bytes(batches, rows, cols, checked_enum<mxjit::ScaleLayout>(layout, 2, "layout"));
  });
}

mxjit_status mxjit_quantize_mxfp8(const mxjit_tensor* input, const mxjit_tensor* q, const mxjit_tensor* scales,
                                  mxjit_scale_layout layout, mxjit_scale_rule rule, CUstream stream) {
  return guarded([&] {
    mxjit::QuantizeOptions options{checked_enum<mxjit::ScaleLayout>(layout, 2, "layout"),
                                   checked_enum<mxjit::ScaleRule>(rule, 2, "rule")};
    mxjit::quantize_mxfp8(to_view(input, "input"), to_view(q, "q"), to_view(scales, "scales"), options, stream);
  });
}

mxjit_status mxjit_gemm_mxfp8_workspace_bytes(int64_t m, int64_t n, int64_t k, uint64_t* bytes) {
  return guarded([&] {
    require(bytes, "bytes");
    *bytes = mxjit::gemm_mxfp8_workspace_bytes(m, n, k);
  });
}

mxjit_status mxjit_gemm_mxfp8(const mxjit_tensor* a, const mxjit_tensor* a_scales, const mxjit_tensor* b,
                              const mxjit_tensor* b_scales, const mxjit_tensor* bias, const mxjit_tensor* out,
                              CUdeviceptr workspace, uint64_t workspace_bytes, CUstream stream) {
  return guarded([&] {
    const mxjit::TensorView bias_view = bias ? to_view(bias, "bias") : mxjit::TensorView{};
    mxjit::gemm_mxfp8(to_view(a, "a"), to_view(a_scales, "a_scales"), to_view(b, "b"), to_view(b_scales, "b_scales"),
                      bias ? &bias_view : nullptr, to_view(out, "out"), workspace, workspace_bytes, stream);
  });
}

mxjit_status mxjit_linear_create(int64_t input_size_per_partition, const int64_t* output_partition_sizes,
                                 int num_partitions, int64_t input_size, int64_t output_size,
                                 mxjit_dtype params_dtype, int64_t max_tokens, mxjit_linear** layer) {
  return guarded([&] {
    require(layer, "layer");
    require(output_partition_sizes, "output_partition_sizes");
    if (num_partitions < 1)
      throw mxjit::Error(mxjit::ErrorCode::invalid_argument,
                         fmt::format("num_partitions must be >= 1, got {}", num_partitions));
    std::vector<std::int64_t> sizes(output_partition_sizes, output_partition_sizes + num_partitions);
    const auto dtype = checked_enum<mxjit::DType>(params_dtype, 6, "params_dtype");
    auto created = std::make_unique<mxjit::Mxfp8Linear>(input_size_per_partition, std::move(sizes), input_size,
                                                        output_size, dtype,
                                                        mxjit::Mxfp8Linear::Options{.max_tokens = max_tokens});
    *layer = reinterpret_cast<mxjit_linear*>(created.release());
  });
}

static mxjit::Mxfp8Linear& linear_of(const mxjit_linear* layer) {
  require(layer, "layer");
  return *reinterpret_cast<mxjit::Mxfp8Linear*>(const_cast<mxjit_linear*>(layer));
}

mxjit_status mxjit_linear_weight(const mxjit_linear* layer, mxjit_tensor* weight) {
  return guarded([&] {
    require(weight, "weight");
    *weight = to_tensor(linear_of(layer).weight());
  });
}

mxjit_status mxjit_linear_load_weight(mxjit_linear* layer, CUdeviceptr src, CUstream stream) {
  return guarded([&] { linear_of(layer).load_weight(src, stream); });
}

mxjit_status mxjit_linear_process_weights(mxjit_linear* layer, CUstream stream) {
  return guarded([&] { linear_of(layer).process_weights_after_loading(stream); });
}

mxjit_status mxjit_linear_apply(const mxjit_linear* layer, const mxjit_tensor* x, const mxjit_tensor* bias,
                                const mxjit_tensor* out, CUstream stream) {
  return guarded([&] {
    const mxjit::TensorView bias_view = bias ? to_view(bias, "bias") : mxjit::TensorView{};
    linear_of(layer).apply(to_view(x, "x"), bias ? &bias_view : nullptr, to_view(out, "out"), stream);
  });
}

void mxjit_linear_destroy(mxjit_linear* layer) { delete reinterpret_cast<mxjit::Mxfp8Linear*>(layer); }

namespace {
mxjit_status grouped_gemm(const mxjit_tensor* a, const mxjit_tensor* a_scales, const mxjit_tensor* a_rows,
                          const mxjit_tensor* w, const mxjit_tensor* w_scales, const mxjit_tensor* bias,
                          const mxjit_tensor* expert_rows, int64_t capacity, int64_t typical_rows,
                          const mxjit_tensor* out, CUdeviceptr workspace, uint64_t workspace_bytes, CUstream stream) {
  return guarded([&] {
    const mxjit::TensorView rows_view = a_rows ? to_view(a_rows, "a_rows") : mxjit::TensorView{};
    const mxjit::TensorView bias_view = bias ? to_view(bias, "bias") : mxjit::TensorView{};
    const mxjit::ExpertGroups groups{to_view(expert_rows, "expert_rows"), capacity, typical_rows};
    mxjit::grouped_gemm_mxfp8(to_view(a, "a"), to_view(a_scales, "a_scales"), a_rows ? &rows_view : nullptr,
                              to_view(w, "w"), to_view(w_scales, "w_scales"), bias ? &bias_view : nullptr, groups,
                              to_view(out, "out"), workspace, workspace_bytes, stream);
  });
}
}  // namespace

mxjit_status mxjit_grouped_gemm_mxfp8(const mxjit_tensor* a, const mxjit_tensor* a_scales, const mxjit_tensor* a_rows,
                                      const mxjit_tensor* w, const mxjit_tensor* w_scales, const mxjit_tensor* bias,
                                      const mxjit_tensor* expert_rows, int64_t capacity, int64_t typical_rows,
                                      const mxjit_tensor* out, CUstream stream) {
  return grouped_gemm(a, a_scales, a_rows, w, w_scales, bias, expert_rows, capacity, typical_rows, out, 0, 0, stream);
}

mxjit_status mxjit_grouped_gemm_mxfp8_workspace_bytes(int64_t rows, int64_t k, uint64_t* bytes) {
  return guarded([&] {
    require(bytes, "bytes");
    *bytes = mxjit::grouped_gemm_mxfp8_workspace_bytes(rows, k);
  });
}

mxjit_status mxjit_grouped_gemm_mxfp8_with_workspace(const mxjit_tensor* a, const mxjit_tensor* a_scales,
                                                     const mxjit_tensor* a_rows, const mxjit_tensor* w,
                                                     const mxjit_tensor* w_scales, const mxjit_tensor* bias,
                                                     const mxjit_tensor* expert_rows, int64_t capacity,
                                                     int64_t typical_rows, const mxjit_tensor* out,
                                                     CUdeviceptr workspace, uint64_t workspace_bytes, CUstream stream) {
  return grouped_gemm(a, a_scales, a_rows, w, w_scales, bias, expert_rows, capacity, typical_rows, out, workspace,
                      workspace_bytes, stream);
}

mxjit_status mxjit_moe_create(int64_t num_experts, int64_t top_k, int64_t hidden_size,
                              int64_t intermediate_size_per_partition, mxjit_dtype params_dtype, int64_t max_tokens,
                              int64_t global_num_experts, mxjit_moe** layer) {
  return guarded([&] {
    require(layer, "layer");
    const auto dtype = checked_enum<mxjit::DType>(params_dtype, 7, "params_dtype");
    auto created = std::make_unique<mxjit::Mxfp8MoE>(
        num_experts, top_k, hidden_size, intermediate_size_per_partition, dtype,
        mxjit::Mxfp8MoE::Options{.max_tokens = max_tokens, .global_num_experts = global_num_experts});
    *layer = reinterpret_cast<mxjit_moe*>(created.release());
  });
}

static mxjit::Mxfp8MoE& moe_of(const mxjit_moe* layer) {
  require(layer, "layer");
  return *reinterpret_cast<mxjit::Mxfp8MoE*>(const_cast<mxjit_moe*>(layer));
}

mxjit_status mxjit_moe_weights(const mxjit_moe* layer, mxjit_tensor* w13, mxjit_tensor* w2) {
  return guarded([&] {
    require(w13, "w13");
    require(w2, "w2");
    *w13 = to_tensor(moe_of(layer).w13_weight());
    *w2 = to_tensor(moe_of(layer).w2_weight());
  });
}

mxjit_status mxjit_moe_load_weights(mxjit_moe* layer, CUdeviceptr w13_src, CUdeviceptr w2_src, CUstream stream) {
  return guarded([&] { moe_of(layer).load_weights(w13_src, w2_src, stream); });
}

mxjit_status mxjit_moe_process_weights(mxjit_moe* layer, CUstream stream) {
  return guarded([&] { moe_of(layer).process_weights_after_loading(stream); });
}

mxjit_status mxjit_moe_apply(const mxjit_moe* layer, const mxjit_tensor* x, const mxjit_tensor* router_logits,
                             int renormalize, const mxjit_tensor* topk_ids, const mxjit_tensor* topk_weights,
                             const mxjit_tensor* expert_map, const mxjit_tensor* w13_bias, const mxjit_tensor* w2_bias,
                             const mxjit_tensor* out, CUstream stream) {
  return guarded([&] {
    const mxjit::Mxfp8MoE& moe = moe_of(layer);
    auto optional = [](const mxjit_tensor* t, const char* what, mxjit::TensorView& storage) -> const mxjit::TensorView* {
      if (!t) return nullptr;
      storage = to_view(t, what);
      return &storage;
    };
    mxjit::TensorView logits, ids, weights, map, b13, b2;
    mxjit::Mxfp8MoE::Inputs in{to_view(x, "x")};
    in.router_logits = optional(router_logits, "router_logits", logits);
    in.renormalize = renormalize != 0;
    in.topk_ids = optional(topk_ids, "topk_ids", ids);
    in.topk_weights = optional(topk_weights, "topk_weights", weights);
    in.expert_map = optional(expert_map, "expert_map", map);
    in.w13_bias = optional(w13_bias, "w13_bias", b13);
    in.w2_bias = optional(w2_bias, "w2_bias", b2);
    moe.apply(in, to_view(out, "out"), stream);
  });
}

void mxjit_moe_destroy(mxjit_moe* layer) { delete reinterpret_cast<mxjit::Mxfp8MoE*>(layer); }

}  // extern "C"
