#include "ops/grouped_gemm.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "mxjit/error.hpp"
#include "ops/dequantize_bf16.hpp"
#include "ops/kernel_table.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "runtime/tensor_map.hpp"
#include "templates/mxfp8_gemm_params.cuh"
#include "templates/mxfp8_grouped_gemm_params.cuh"

namespace mxjit {
namespace ops {
namespace {

constexpr int tile_count = static_cast<int>(std::size(grouped_gemm_tiles));

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

KernelTable<tile_count * 2>& grouped_kernels() {
  static KernelTable<tile_count * 2> table;
  return table;
}

jit::KernelSpec decode_reduce_kernel_spec(const GemmTile& t, DType out, const jit::Arch& arch) {
  return jit::KernelSpec{"mxfp8_grouped_gemm_decode_reduce", "mxjit::mxfp8_grouped_gemm_decode_reduce_kernel",
                         decode_reduce_kernel_args(t, out), arch};
}

// The TMA view of the experts' weights [E, N, K] (fp8 bytes), in boxes of box_k x box_rows x 1 expert.
TensorMap expert_weights_map(const GroupedGemmParams& p, std::uint32_t box_k, int box_rows,
                             CUtensorMapSwizzle swizzle) {
  const CUtensorMap map = runtime::tensor_map(
      {reinterpret_cast<std::uint64_t>(p.b), CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, 3,
       {static_cast<std::uint64_t>(p.k), static_cast<std::uint64_t>(p.n), static_cast<std::uint64_t>(p.experts)},
       {static_cast<std::uint64_t>(p.ldb), static_cast<std::uint64_t>(p.b_expert_stride)}},
      {box_k, static_cast<std::uint32_t>(box_rows), 1}, swizzle);
  TensorMap result;
  static_assert(sizeof(CUtensorMap) == sizeof(TensorMap));
  std::memcpy(&result, &map, sizeof(map));
  return result;
}

// tma_decode: the persistent walk (one CTA per SM slot) with the experts' weights through a 3-D TMA map,
// then the second launch over the boundaries between CTA shares (which tiles are shared is known only on
// the device).
void launch_grouped_decode(const GemmTile& tile, int tile_index, GroupedGemmParams& p, DType out,
                           const runtime::DeviceInfo& info, std::uint64_t workspace, CUstream stream,
                           const runtime::Kernel& kernel) {
  p.decode_ctas = decode_tma_ctas(tile, info.sm_count, info.smem_per_sm);
  p.partials = reinterpret_cast<float*>(workspace);
  TensorMap weights = expert_weights_map(p, kGemmBK, tile.bm, CU_TENSOR_MAP_SWIZZLE_128B);
  runtime::LaunchConfig config = tile_launch_config(tile, stream);
  config.early_start = true;  // every grouped kernel starts in stream order on the device
  config.grid[0] = static_cast<unsigned>(p.decode_ctas);
  void* args[] = {&p, &weights};
  kernel.launch(config, args);
  if (p.decode_ctas < 2) return;
  static KernelTable<tile_count * 2> reduce_kernels;
  const runtime::Kernel& reduce =
      reduce_kernels.get(runtime::current_device(), tile_index * 2 + (out == DType::fp16 ? 1 : 0), {kDecodeReduceThreads, 0},
                         [&] { return decode_reduce_kernel_spec(tile, out, info.arch); });
  launch_decode_boundaries(reduce, p.decode_ctas, &p, stream);
}

// wgmma_bf16: the token-side operand dequantized once into `workspace`, gathered into group order (the
// rows of `out`; in the contiguous layout only the rows in use), and the kernel's TMA views of it and of
// the experts' weights.
void prepare_bf16_operands(const GemmTile& tile, const TensorView& a, const TensorView& a_scales,
                           const TensorView* a_rows, const ExpertGroups& groups, std::uint64_t workspace,
                           CUstream stream, GroupedGemmParams& p, GemmTensorMaps& maps) {
  const std::int64_t ld_bf16 = dequantize_bf16_row_elements(p.k), rows = p.out_rows;
  p.a_exact = reinterpret_cast<const unsigned char*>(workspace + static_cast<std::uint64_t>(rows * ld_bf16 * 2));
  const std::uint64_t rows_in_use =
      groups.capacity == 0 ? groups.rows.data + static_cast<std::uint64_t>(p.experts) * 4 : 0;  // offsets[E]
  dequantize_bf16(a, a_scales, workspace, stream, {rows, a_rows ? a_rows->data : 0, rows_in_use});
  maps.weights = expert_weights_map(p, 64, tile.bm, CU_TENSOR_MAP_SWIZZLE_NONE);  // a stage: 64 K bytes a row
  const CUtensorMap tokens = dequantize_bf16_tensor_map(workspace, rows, p.k, tile.bn);
  std::memcpy(&maps.tokens, &tokens, sizeof(tokens));
}

// [E, rows, cols] with unit column stride, rows `row_align` bytes apart, experts a multiple of it apart.
void require_expert_stack(const TensorView& t, std::int64_t experts, std::int64_t rows, std::int64_t cols,
                          int row_align, std::string_view what) {
  if (t.ndim != 3 || (experts >= 0 && t.shape[0] != experts) || (rows >= 0 && t.shape[1] != rows) || t.shape[2] != cols)
    invalid_argument(fmt::format("{} has shape {}, expected [{}, {}, {}]", what, shape_text(t),
                                 experts >= 0 ? std::to_string(experts) : "E", rows >= 0 ? std::to_string(rows) : "N", cols));
  if (t.strides[2] != 1 || t.strides[1] < cols || t.strides[1] % row_align != 0 || t.strides[0] % row_align != 0 ||
      (t.shape[1] > 0 && t.strides[0] < t.strides[1] * t.shape[1]))
    invalid_argument(fmt::format("{} needs unit column stride, rows a multiple of {} bytes apart and experts that do not "
                                 "overlap, got strides [{}, {}, {}]",
                                 what, row_align, t.strides[0], t.strides[1], t.strides[2]));
}

void require_i32_vector(const TensorView& t, std::int64_t min_length, std::string_view what) {
  require_dtype(t, {DType::i32}, what);
  if (t.ndim != 1 || t.shape[0] < min_length || (t.shape[0] > 1 && t.strides[0] != 1))
    invalid_argument(fmt::format("{} must be a contiguous 1-D i32 vector of at least {} entries, got shape {}", what,
                                 min_length, shape_text(t)));
  require_pointer(t.data, 4, what);
}

}  // namespace

int grouped_gemm_tile_for(GemmFamilies families, std::int64_t typical_rows, std::int64_t touched_bytes) {
  return tile_for(grouped_gemm_tiles, families, typical_rows, touched_bytes);
}

std::uint64_t grouped_gemm_workspace_bytes(const GemmTile& tile, std::int64_t rows, std::int64_t k, int sm_count,
                                           int smem_per_sm) {
  if (tile.family == GemmFamily::wgmma_bf16) return dequantize_bf16_bytes(rows, k);
  if (tile.family == GemmFamily::tma_decode)
    return decode_tma_partial_bytes(tile, decode_tma_ctas(tile, sm_count, smem_per_sm));
  return 0;
}

jit::KernelSpec grouped_gemm_kernel_spec(const GemmTile& t, DType out, const jit::Arch& arch) {
  if (arch.sm() < 89)
    throw Error(ErrorCode::unsupported,
                fmt::format("the grouped MXFP8 GEMM needs fp8 tensor cores (sm_89 or newer), not {}", arch.name()));
  if (t.family == GemmFamily::wgmma_bf16) {
    if (!gemm_family_supported(t.family, arch))
      throw Error(ErrorCode::unsupported, fmt::format("the grouped bf16 wgmma GEMM needs sm_90a, not {}", arch.name()));
    return jit::KernelSpec{"mxfp8_grouped_gemm_wgmma_bf16", "mxjit::mxfp8_grouped_gemm_wgmma_bf16_kernel",
                           wgmma_kernel_args(t, out), arch};
  }
  if (t.family == GemmFamily::tma_decode) {
    if (!gemm_family_supported(t.family, arch))
      throw Error(ErrorCode::unsupported, fmt::format("the grouped tma_decode GEMM needs sm_90, not {}", arch.name()));
    return jit::KernelSpec{"mxfp8_grouped_gemm_decode_tma", "mxjit::mxfp8_grouped_gemm_decode_tma_kernel",
                           decode_tma_kernel_args(t, out), arch};
  }
  return jit::KernelSpec{"mxfp8_grouped_gemm",
                         t.streaming ? "mxjit::mxfp8_grouped_gemm_stream_kernel" : "mxjit::mxfp8_grouped_gemm_kernel",
                         mma_kernel_args(t, out), arch};
}

std::vector<jit::KernelSpec> grouped_gemm_launch_kernel_specs(const GemmTile& tile, DType out, const jit::Arch& arch) {
  std::vector<jit::KernelSpec> specs = {grouped_gemm_kernel_spec(tile, out, arch)};
  if (tile.family == GemmFamily::wgmma_bf16) specs.push_back(dequantize_bf16_kernel_spec(arch));
  if (tile.family == GemmFamily::tma_decode) specs.push_back(decode_reduce_kernel_spec(tile, out, arch));
  return specs;
}

std::vector<jit::KernelSpec> all_grouped_gemm_kernel_specs(const jit::Arch& arch) {
  std::vector<jit::KernelSpec> specs;
  for (const GemmTile& t : grouped_gemm_tiles)
    if (GemmFamilies::dispatched(arch).contains(t.family))
      for (DType out : {DType::bf16, DType::fp16})
        for (jit::KernelSpec& spec : grouped_gemm_launch_kernel_specs(t, out, arch)) specs.push_back(std::move(spec));
  return specs;
}

void launch_grouped_gemm(const TensorView& a, const TensorView& a_scales, const TensorView* a_rows, const TensorView& w,
                         const TensorView& w_scales, const TensorView* bias, const ExpertGroups& groups,
                         const TensorView& out, std::uint64_t workspace, std::uint64_t workspace_bytes,
                         CUstream stream, int tile_override) {
  if (a.ndim != 2) invalid_argument(fmt::format("grouped_gemm_mxfp8: a must be 2-D [A, K], got shape {}", shape_text(a)));
  const std::int64_t k = a.shape[1];
  if (k % 32 != 0 || k == 0)
    invalid_argument(fmt::format("MXFP8 requires K (the reduction dimension) to be a positive multiple of 32, got K = {}", k));
  require_mxfp8_matrix(a, a_scales, k, "grouped_gemm_mxfp8: a", "grouped_gemm_mxfp8: a_scales");
  require_dtype(w, {DType::e4m3, DType::u8}, "grouped_gemm_mxfp8: w");
  require_expert_stack(w, -1, -1, k, 16, "grouped_gemm_mxfp8: w");
  const std::int64_t experts = w.shape[0], n = w.shape[1];
  if (experts < 1 || experts > kGroupedGemmMaxExperts)
    invalid_argument(fmt::format("grouped_gemm_mxfp8: {} experts; 1 to {} are supported", experts, kGroupedGemmMaxExperts));
  if (n < 1) invalid_argument(fmt::format("grouped_gemm_mxfp8: w has N = {} rows per expert; need N >= 1", n));
  require_pointer(w.data, 16, "grouped_gemm_mxfp8: w");
  require_dtype(w_scales, {DType::e8m0, DType::u8}, "grouped_gemm_mxfp8: w_scales");
  require_expert_stack(w_scales, experts, n, k / 32, 4, "grouped_gemm_mxfp8: w_scales");
  require_pointer(w_scales.data, 4, "grouped_gemm_mxfp8: w_scales");
  require_dtype(out, {DType::bf16, DType::fp16}, "grouped_gemm_mxfp8: out");
  require_matrix(out, -1, n, "grouped_gemm_mxfp8: out");
  require_pointer(out.data, 2, "grouped_gemm_mxfp8: out");
  const std::int64_t rows = out.shape[0];
  if (bias) {
    require_dtype(*bias, {out.dtype}, "grouped_gemm_mxfp8: bias");
    if (bias->ndim != 2 || bias->shape[0] != experts || bias->shape[1] != n || !bias->is_contiguous())
      invalid_argument(fmt::format("grouped_gemm_mxfp8: bias must be a contiguous [{}, {}] matrix, got shape {}", experts,
                                   n, shape_text(*bias)));
    require_pointer(bias->data, 2, "grouped_gemm_mxfp8: bias");
  }
  if (a_rows) require_i32_vector(*a_rows, rows, "grouped_gemm_mxfp8: a_rows");
  if (groups.capacity < 0)
    invalid_argument(fmt::format("grouped_gemm_mxfp8: capacity {} is negative", groups.capacity));
  if (groups.capacity == 0) {
    require_i32_vector(groups.rows, experts + 1, "grouped_gemm_mxfp8: expert offsets");
  } else {
    require_i32_vector(groups.rows, experts, "grouped_gemm_mxfp8: expert counts");
    if (experts * groups.capacity > rows)
      invalid_argument(fmt::format("grouped_gemm_mxfp8: the masked layout needs E * capacity = {} * {} rows of out, "
                                   "out has {}", experts, groups.capacity, rows));
  }
  constexpr std::int64_t limit = std::int64_t{1} << 30;
  if (rows > limit || n > limit || k > limit || a.shape[0] > limit)
    invalid_argument(fmt::format("grouped_gemm_mxfp8: dimensions above 2^30 are not supported (rows = {}, N = {}, K = {})",
                                 rows, n, k));
  if (tile_override >= tile_count)
    invalid_argument(fmt::format("grouped_gemm_mxfp8: tile {} does not exist (0 to {})", tile_override, tile_count - 1));
  if (rows == 0) return;

  const int device = runtime::current_device();
  const runtime::DeviceInfo& info = runtime::device_info(device);
  const std::int64_t typical = groups.typical_rows > 0 ? groups.typical_rows : std::max<std::int64_t>(1, rows / experts);
  // Without room for the chosen tile's workspace, the portable tiles (which need none).
  const auto needs = [&](int t) {
    return grouped_gemm_workspace_bytes(grouped_gemm_tiles[t], rows, k, info.sm_count, info.smem_per_sm);
  };
  int tile_index = tile_override;
  if (tile_index < 0) {
    // The expert bytes this call touches are unknown here (the group sizes are on the device): tiles with
    // a floor are left to callers that know, as Mxfp8MoE does (ops/moe_plan.hpp).
    tile_index = grouped_gemm_tile_for(GemmFamilies::dispatched(info.arch), typical, 0);
    if (needs(tile_index) > 0 && (workspace == 0 || workspace_bytes < needs(tile_index)))
      tile_index = grouped_gemm_tile_for(GemmFamily::mma, typical, 0);
  }
  const GemmTile& tile = grouped_gemm_tiles[tile_index];
  if (!gemm_family_supported(tile.family, info.arch))
    throw Error(ErrorCode::unsupported, fmt::format("grouped_gemm_mxfp8: tile {} needs sm_90a; this GPU is {}",
                                                    tile.name(), info.arch.name()));
  const std::uint64_t needed = needs(tile_index);
  if (needed > 0 && (workspace == 0 || workspace_bytes < needed))
    invalid_argument(fmt::format("grouped_gemm_mxfp8: tile {} needs {} bytes of workspace, got {}", tile.name(), needed,
                                 workspace == 0 ? 0 : workspace_bytes));
  const runtime::Kernel& kernel =
      grouped_kernels().get(device, tile_index * 2 + (out.dtype == DType::fp16 ? 1 : 0),
                            {tile.threads(), tile.smem_bytes()}, [&] { return grouped_gemm_kernel_spec(tile, out.dtype, info.arch); });

  GroupedGemmParams p{};
  p.a = reinterpret_cast<const unsigned char*>(a.data);
  p.a_scales = reinterpret_cast<const unsigned char*>(a_scales.data);
  p.a_rows = a_rows ? reinterpret_cast<const int*>(a_rows->data) : nullptr;
  p.b = reinterpret_cast<const unsigned char*>(w.data);
  p.b_scales = reinterpret_cast<const unsigned char*>(w_scales.data);
  p.out = reinterpret_cast<void*>(out.data);
  p.bias = bias ? reinterpret_cast<const void*>(bias->data) : nullptr;
  p.offsets = groups.capacity == 0 ? reinterpret_cast<const int*>(groups.rows.data) : nullptr;
  p.counts = groups.capacity > 0 ? reinterpret_cast<const int*>(groups.rows.data) : nullptr;
  p.b_expert_stride = w.strides[0];
  p.b_scales_expert_stride = w_scales.strides[0];
  p.lda = a.strides[0];
  p.ldb = w.strides[1];
  p.ldo = out.strides[0];
  p.lda_s = static_cast<int>(a_scales.strides[0]);
  p.ldb_s = static_cast<int>(w_scales.strides[1]);
  p.capacity = static_cast<int>(groups.capacity);
  p.a_row_count = static_cast<int>(a.shape[0]);
  p.out_rows = static_cast<int>(rows);
  p.experts = static_cast<int>(experts);
  p.n = static_cast<int>(n);
  p.k = static_cast<int>(k);
  const std::int64_t active_experts = std::min(experts, ceil_div(rows, typical));
  p.k_split = tile.streaming ? stream_k_split(tile, active_experts * ceil_div(n, 16), k, info.sm_count) : 1;
  GemmTensorMaps maps{};  // wgmma_bf16's second parameter
  if (tile.family == GemmFamily::wgmma_bf16)
    prepare_bf16_operands(tile, a, a_scales, a_rows, groups, workspace, stream, p, maps);

  if (tile.family == GemmFamily::tma_decode) {
    launch_grouped_decode(tile, tile_index, p, out.dtype, info, workspace, stream, kernel);
    return;
  }
  // Persistent: no more CTAs than fit at once, nor than the most tiles the groups can have.
  const int token_tile = tile.weights_are_rows() ? tile.bn : tile.bm;
  // Streaming: a work tile is 16 weight rows and a CTA holds warps / k_split workers.
  const int weight_tile = tile.streaming ? 16 : tile.weights_are_rows() ? tile.bm : tile.bn;
  const int tiles_per_cta = tile.streaming ? tile.warps_m / p.k_split : 1;
  const std::int64_t most_tiles = ceil_div((ceil_div(rows, token_tile) + experts) * ceil_div(n, weight_tile), tiles_per_cta);
  const std::int64_t resident = static_cast<std::int64_t>(info.sm_count) * kernel.blocks_per_sm();
  runtime::LaunchConfig config = tile_launch_config(tile, stream);
  config.early_start = true;  // every grouped kernel starts in stream order on the device
  if (most_tiles > 0x7FFFFFFF)  // work tiles are numbered in int
    invalid_argument(fmt::format("grouped_gemm_mxfp8: {} rows of N = {} make more than 2^31 - 1 tiles; split the batch",
                                 rows, n));
  config.grid[0] = static_cast<unsigned>(std::clamp<std::int64_t>(most_tiles, 1, resident));
  void* args[] = {&p, &maps};  // kernels of one parameter ignore the second
  kernel.launch(config, args);
}

}  // namespace ops

void grouped_gemm_mxfp8(const TensorView& a, const TensorView& a_scales, const TensorView* a_rows, const TensorView& w,
                        const TensorView& w_scales, const TensorView* bias, const ExpertGroups& groups,
                        const TensorView& out, CUstream stream) {
  ops::launch_grouped_gemm(a, a_scales, a_rows, w, w_scales, bias, groups, out, 0, 0, stream);
}

std::uint64_t grouped_gemm_mxfp8_workspace_bytes(std::int64_t rows, std::int64_t k) {
  if (rows < 0 || k < 32 || k % 32 != 0)
    ops::invalid_argument(fmt::format("grouped_gemm_mxfp8_workspace_bytes: need R >= 0 rows of out and K a positive "
                                      "multiple of 32, got R = {}, K = {}", rows, k));
  std::uint64_t bytes = ops::dequantize_bf16_bytes(rows, k);
  if (runtime::device_count() == 0) return bytes;  // sized for a GPU when there is one
  const runtime::DeviceInfo& info = runtime::device_info(runtime::current_device());
  for (const ops::GemmTile& t : ops::grouped_gemm_tiles)  // any tile this GPU runs: dispatched or asked for
    if (ops::gemm_family_supported(t.family, info.arch))
      bytes = std::max(bytes, ops::grouped_gemm_workspace_bytes(t, rows, k, info.sm_count, info.smem_per_sm));
  return bytes;
}

void grouped_gemm_mxfp8(const TensorView& a, const TensorView& a_scales, const TensorView* a_rows, const TensorView& w,
                        const TensorView& w_scales, const TensorView* bias, const ExpertGroups& groups,
                        const TensorView& out, std::uint64_t workspace, std::uint64_t workspace_bytes, CUstream stream) {
  ops::launch_grouped_gemm(a, a_scales, a_rows, w, w_scales, bias, groups, out, workspace, workspace_bytes, stream);
}

}  // namespace mxjit
