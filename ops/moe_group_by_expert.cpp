// launch_group_by_expert: checks, then one CTA that histograms, scans and scatters every pair.
#include <fmt/format.h>

#include <limits>

#include "ops/kernel_table.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "templates/moe_aux_params.cuh"

namespace mxjit::ops {
namespace {

constexpr unsigned group_threads = 1024;  // the template's kGroupThreads

KernelTable<1>& group_kernels() {
  static KernelTable<1> table;
  return table;
}

void check_map(const TensorView& map) {
  require_dtype(map, {DType::i32}, "moe_group_by_expert: expert_map");
  if (map.ndim != 1 || map.shape[0] < 1 || map.strides[0] != 1)
    invalid_argument(fmt::format("moe_group_by_expert: expert_map must be 1-D [E_global] with E_global >= 1 and "
                                 "unit stride, got shape {}",
                                 shape_text(map)));
  if (map.shape[0] > std::numeric_limits<std::int32_t>::max())
    invalid_argument(fmt::format("moe_group_by_expert: expert_map has {} entries, above 2^31 - 1", map.shape[0]));
  require_pointer(map.data, 4, "moe_group_by_expert: expert_map");
}

}  // namespace

void launch_group_by_expert(const TensorView& topk_ids, const TensorView* expert_map, int num_local_experts,
                            const MoeGrouping& grouping, CUstream stream) {
  require_dtype(topk_ids, {DType::i32}, "moe_group_by_expert: topk_ids");
  require_matrix(topk_ids, -1, -1, "moe_group_by_expert: topk_ids");
  if (!topk_ids.is_contiguous())
    invalid_argument(
        fmt::format("moe_group_by_expert: topk_ids of shape {} must be contiguous", shape_text(topk_ids)));
  const std::int64_t tokens = topk_ids.shape[0], top_k = topk_ids.shape[1];
  if (top_k < 1) invalid_argument(fmt::format("moe_group_by_expert: top_k = {} (topk_ids columns) must be >= 1", top_k));
  if (tokens > std::numeric_limits<std::int32_t>::max() / top_k)
    invalid_argument(fmt::format("moe_group_by_expert: T * k = {} * {} pairs exceed the limit of 2^31 - 1 rows",
                                 tokens, top_k));
  if (num_local_experts < 1 || num_local_experts > moe_group_max_experts)
    invalid_argument(fmt::format("moe_group_by_expert: num_local_experts = {} must be in [1, {}]", num_local_experts,
                                 moe_group_max_experts));
  if (tokens > 0) require_pointer(topk_ids.data, 4, "moe_group_by_expert: topk_ids");
  if (expert_map != nullptr) check_map(*expert_map);
  require_pointer(grouping.expert_offsets, 4, "moe_group_by_expert: expert_offsets");
  require_pointer(grouping.pair_row, 4, "moe_group_by_expert: pair_row");
  require_pointer(grouping.row_token, 4, "moe_group_by_expert: row_token");

  GroupByExpertParams params{};
  params.topk_ids = reinterpret_cast<const int*>(topk_ids.data);
  params.expert_map = expert_map != nullptr ? reinterpret_cast<const int*>(expert_map->data) : nullptr;
  params.pairs = static_cast<unsigned>(tokens * top_k);
  params.top_k = static_cast<unsigned>(top_k);
  params.global_experts = expert_map != nullptr ? static_cast<unsigned>(expert_map->shape[0]) : 0u;
  params.local_experts = static_cast<unsigned>(num_local_experts);
  params.expert_offsets = reinterpret_cast<int*>(grouping.expert_offsets);
  params.pair_row = reinterpret_cast<int*>(grouping.pair_row);
  params.row_token = reinterpret_cast<int*>(grouping.row_token);

  // Launched even without pairs: the offsets must still read all zeros.
  const int device = runtime::current_device();
  const runtime::Kernel& kernel = group_kernels().get(
      device, 0, {group_threads, 0}, [&] { return group_by_expert_kernel_spec(runtime::device_info(device).arch); });
  runtime::LaunchConfig config;
  config.block[0] = group_threads;
  config.stream = stream;
  config.early_start = true;  // the kernel starts in stream order on the device (templates/grid_dependency.cuh)
  void* args[] = {&params};
  kernel.launch(config, args);
}

jit::KernelSpec group_by_expert_kernel_spec(const jit::Arch& arch) {
  return jit::KernelSpec{"moe_group_by_expert", "mxjit::moe_group_by_expert_kernel", {}, arch};
}

}  // namespace mxjit::ops
