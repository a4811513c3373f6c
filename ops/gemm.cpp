#include "ops/gemm.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "jit/log.hpp"
#include "jit/runtime_state.hpp"
#include "mxjit/error.hpp"
#include "ops/dequantize_bf16.hpp"
#include "ops/kernel_table.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "runtime/tensor_map.hpp"
#include "templates/mxfp8_gemm_params.cuh"

namespace mxjit {
namespace ops {
namespace {

constexpr int k_tile = kGemmBK;  // K bytes per pipeline stage
constexpr int row_pitch = kGemmRowPitch;
constexpr int max_splits = 16;
constexpr int min_tiles_per_split = 4;
// Per-FLOP throughput of the exact bf16 128 x 128 tile at full occupancy, relative to 128 x 256 (H100,
// 8192 x 28672: 4398 vs 2924 us; bench/METHOD.md, session 16).
constexpr double bf16_128x128_rate = 0.665;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

int out_index(DType out) { return out == DType::fp16 ? 1 : 0; }

KernelTable<static_cast<int>(std::size(gemm_tiles)) * 2>& gemm_kernels() {
  static KernelTable<static_cast<int>(std::size(gemm_tiles)) * 2> table;
  return table;
}

const char* out_type(DType out) { return out == DType::fp16 ? "mxjit::OutFp16" : "mxjit::OutBf16"; }

jit::KernelSpec split_reduce_kernel_spec(DType out, const jit::Arch& arch) {
  return jit::KernelSpec{"mxfp8_gemm_split_reduce", "mxjit::mxfp8_gemm_split_reduce_kernel", {{"out", out_type(out)}},
                         arch};
}

// tma_decode's second launch, for plans with shared row tiles (templates/mxfp8_gemm_decode_reduce.cuh).
jit::KernelSpec decode_reduce_kernel_spec(const GemmTile& t, DType out, const jit::Arch& arch) {
  return jit::KernelSpec{"mxfp8_gemm_decode_reduce", "mxjit::mxfp8_gemm_decode_reduce_kernel",
                         decode_reduce_kernel_args(t, out), arch};
}

// Split-K's second launch: the partials the GEMM kernel `gemm` stored, summed into the caller's [M, N].
void launch_split_reduce(const GemmParams& gemm, std::int64_t m, std::int64_t n, DType out,
                         const runtime::DeviceInfo& info, CUstream stream) {
  static KernelTable<2> kernels;
  const runtime::Kernel& kernel = kernels.get(runtime::current_device(), out_index(out), {256, 0},
                                              [&] { return split_reduce_kernel_spec(out, info.arch); });
  GemmParams p = gemm;
  p.m = static_cast<int>(m);
  p.n = static_cast<int>(n);
  runtime::LaunchConfig config;
  config.grid[0] = static_cast<unsigned>(
      std::min<std::int64_t>(ceil_div(m * n, 256), std::int64_t{info.sm_count} * kernel.blocks_per_sm()));
  config.block[0] = 256;
  config.stream = stream;
  void* args[] = {&p};
  kernel.launch(config, args);
}

// tma_decode's second launch: one CTA per boundary between CTA shares of the walk.
void launch_decode_reduce(const GemmTile& tile, int tile_index, GemmParams p, DType out, const jit::Arch& arch,
                          CUstream stream) {
  static KernelTable<static_cast<int>(std::size(gemm_tiles)) * 2> kernels;
  const runtime::Kernel& kernel =
      kernels.get(runtime::current_device(), tile_index * 2 + out_index(out), {kDecodeReduceThreads, 0},
                  [&] { return decode_reduce_kernel_spec(tile, out, arch); });
  launch_decode_boundaries(kernel, p.decode.ctas, &p, stream);
}

}  // namespace

GemmFamilies GemmFamilies::dispatched(const jit::Arch& arch) {
  GemmFamilies families(GemmFamily::mma);
  for (GemmFamily f : {GemmFamily::tma_decode, GemmFamily::wgmma_bf16})
    if (gemm_family_supported(f, arch)) families = families.with(f);
  return families;
}

bool gemm_family_supported(GemmFamily family, const jit::Arch& arch) {
  switch (family) {
    case GemmFamily::mma: return arch.sm() >= 89;
    case GemmFamily::tma_decode: return arch.major == 9;  // TMA and mbarrier transactions: sm_90
    default: return arch.major == 9 && arch.arch_specific;
  }
}

unsigned GemmTile::threads() const {
  if (family == GemmFamily::wgmma_bf16) return 384;  // two consumer warpgroups and a producer warpgroup
  if (family == GemmFamily::tma_decode) return static_cast<unsigned>(warps_m * 32 + 32);  // and a producer warp
  return static_cast<unsigned>(family == GemmFamily::mma ? warps_m * warps_n * 32 : bm / 64 * 128);
}

unsigned GemmTile::smem_bytes() const {
  if (streaming) return 0;  // the K parts' partials live in static shared memory
  if (family == GemmFamily::tma_decode)  // DecodeStage, 1024-aligned, and room to align the first
    return static_cast<unsigned>(stages * ceil_div((bm + bn) * (k_tile + 4), 1024) * 1024 + 1024);
  if (family == GemmFamily::wgmma)  // WgmmaStage: operands, 4 scale bytes a row, 128-byte aligned
    return static_cast<unsigned>(stages * ceil_div((bm + bn) * (k_tile + 4), 128) * 128);
  if (family == GemmFamily::wgmma_bf16)  // Bf16GemmStage, 1024-aligned, room to align the first, the spare
    return static_cast<unsigned>(stages * ceil_div(bn * 128 + bm * 64 + bm * 4, 1024) * 1024 + 1024 +
                                 bf16_spare_bytes(bn));
  return static_cast<unsigned>(stages * (bm + bn) * (row_pitch + 4));
}

std::string GemmTile::name() const {
  const char* kind = family == GemmFamily::wgmma        ? "wgmma"
                     : family == GemmFamily::wgmma_bf16 ? "wgmma_bf16"
                     : family == GemmFamily::tma_decode ? "tma_decode"
                     : streaming                        ? "stream"
                                                        : "mma";
  return fmt::format("{}_{}x{}_w{}x{}_s{}{}", kind, bm, bn, warps_m, warps_n, stages, swap_ab ? "_swap" : "");
}

int choose_gemm_tile(const jit::TuningDb& tuning, GemmFamilies families, std::int64_t m, std::int64_t n,
                     std::int64_t k, DType out, int sm_count, int smem_per_sm) {
  if (const jit::TuningChoice* c = tuning.find({jit::TuningKey::bucket_of(m), n, k, out})) {
    const int t = c->tile;
    if (t >= 0 && t < static_cast<int>(std::size(gemm_tiles)) && families.contains(gemm_tiles[t].family) &&
        (!gemm_tiles[t].swap_ab || m <= gemm_tiles[t].bn))
      return t;
  }
  return gemm_tile_for(families, m, n, k, sm_count, smem_per_sm);
}

const jit::TuningDb& gemm_tuning(int device) {
  constexpr int max_devices = 64;
  static std::atomic<const jit::TuningDb*> loaded[max_devices] = {};
  static std::mutex loading;
  if (device < 0 || device >= max_devices) throw Error(ErrorCode::unsupported, fmt::format("device ordinal {}", device));
  if (const jit::TuningDb* db = loaded[device].load(std::memory_order_acquire)) return *db;
  std::lock_guard lock(loading);
  if (const jit::TuningDb* db = loaded[device].load(std::memory_order_acquire)) return *db;
  const jit::TuningEnvironment env = jit::tuning_environment(device);
  // Kept for the life of the process, like loaded kernels. A broken file must not stop serving: warn and
  // dispatch by the heuristic (mxjit tune and the tests see the error itself through TuningDb::load).
  const std::string& path = jit::RuntimeState::get().config().tuning_db;
  jit::TuningDb tuned(env);
  try {
    tuned = jit::TuningDb::load(path, env);
  } catch (const Error& e) {
    jit::log(jit::LogLevel::warn, "{}; dispatching by the built-in heuristic", e.what());
  }
  const auto* db = new jit::TuningDb(std::move(tuned));
  loaded[device].store(db, std::memory_order_release);
  return *db;
}

int tile_for(std::span<const GemmTile> tiles, GemmFamilies families, std::int64_t m, std::int64_t weight_bytes) {
  const auto best_of = [&](std::int64_t bytes) {
    int best = -1;
    for (int i = 0; i < static_cast<int>(tiles.size()); ++i)
      if (families.contains(tiles[i].family) && tiles[i].max_tokens >= m && tiles[i].min_weight_bytes <= bytes &&
          (best < 0 || tiles[i].max_tokens <= tiles[best].max_tokens))
        best = i;
    return best;
  };
  int best = best_of(weight_bytes);
  if (best < 0) best = best_of(any_m);  // a family whose tiles all want larger weights still takes any
  if (best < 0) throw Error(ErrorCode::internal, "the tile table has no catch-all tile for these families");
  return best;
}

int gemm_tile_for(GemmFamilies families, std::int64_t m, std::int64_t n, std::int64_t k, int sm_count, int smem_per_sm) {
  const int by_m = tile_for(gemm_tiles, families, m, n * k);
  const GemmTile& wide = gemm_tiles[by_m];
  if (wide.family != GemmFamily::wgmma_bf16 || wide.bn != 256) return by_m;
  // 128 x 256 has the best rate per FLOP, but at mid-size M few of its tiles may leave much of the last
  // (or only) wave idle, e.g. 64 tiles on 132 SMs at M = 256, N = 8192, where 128 x 128 fills it.
  const double wide_time = plan_gemm(families, m, n, k, sm_count, smem_per_sm, by_m).waves_k_tiles;
  for (int i = 0; i < static_cast<int>(std::size(gemm_tiles)); ++i) {
    const GemmTile& t = gemm_tiles[i];
    if (t.family != wide.family || t.bm != wide.bm || t.bn != 128 || t.max_tokens == 0) continue;
    const double k_tile_cost = static_cast<double>(t.bn) / wide.bn / bf16_128x128_rate;  // in wide's K tiles
    const double time = plan_gemm(families, m, n, k, sm_count, smem_per_sm, i).waves_k_tiles * k_tile_cost;
    if (time < 0.95 * wide_time) return i;
  }
  return by_m;
}

int decode_tma_ctas(const GemmTile& tile, int sm_count, int smem_per_sm) {
  const int per_sm = std::min<int>(smem_per_sm / static_cast<int>(tile.smem_bytes() + 1024),  // 1 KB: system use
                                   2048 / static_cast<int>(tile.threads()));
  return std::max(1, per_sm) * sm_count;
}

std::uint64_t decode_tma_partial_bytes(const GemmTile& tile, int ctas) {
  return static_cast<std::uint64_t>(ctas) * 2 * tile.bn * tile.bm * 4;
}

void launch_decode_boundaries(const runtime::Kernel& sum, int ctas, void* params, CUstream stream) {
  runtime::LaunchConfig config;
  config.grid[0] = static_cast<unsigned>(ctas - 1);
  config.block[0] = kDecodeReduceThreads;
  config.stream = stream;
  config.early_start = true;  // the sum waits for the walk on the device (templates/grid_dependency.cuh)
  void* args[] = {params};
  sum.launch(config, args);
}

int stream_k_split(const GemmTile& tile, std::int64_t row_groups, std::int64_t k, int sm_count) {
  const std::int64_t k_groups = ceil_div(k, k_tile);
  int splits = 1;
  while (splits < tile.warps_m && row_groups * splits / tile.warps_m < 2 * sm_count && k_groups / (splits * 2) >= 2)
    splits *= 2;
  return splits;
}

namespace {

// The tma_decode walk: one CTA per SM slot (never more than there are iterations), each taking an equal
// contiguous share of the (row tile, K stage) iterations; a row tile is shared when a share boundary
// falls inside it.
void plan_decode(const GemmTile& t, std::int64_t n, std::int64_t k, int sm_count, int smem_per_sm, GemmPlan& plan) {
  plan.decode.k_stages = static_cast<int>(ceil_div(k, k_tile));
  plan.decode.total = ceil_div(n, t.bm) * plan.decode.k_stages;
  plan.decode.ctas =
      static_cast<int>(std::min<std::int64_t>(plan.decode.total, decode_tma_ctas(t, sm_count, smem_per_sm)));
  for (int c = 1; c < plan.decode.ctas; ++c)
    plan.decode_shared_tiles |= plan.decode.begin(c) % plan.decode.k_stages != 0;
  if (plan.decode_shared_tiles) plan.workspace_bytes = decode_tma_partial_bytes(t, plan.decode.ctas);
}

}  // namespace

GemmPlan plan_gemm(GemmFamilies families, std::int64_t m, std::int64_t n, std::int64_t k, int sm_count,
                   int smem_per_sm, int tile) {
  GemmPlan plan;
  if (tile >= static_cast<int>(std::size(gemm_tiles)) || (tile >= 0 && !families.contains(gemm_tiles[tile].family)))
    invalid_argument(fmt::format("gemm: tile {} is not a tile of the requested kernel families", tile));
  if (tile >= 0 && gemm_tiles[tile].swap_ab && m > gemm_tiles[tile].bn)
    invalid_argument(fmt::format("gemm: decode tile {} holds at most {} tokens, M = {}", tile, gemm_tiles[tile].bn, m));
  plan.tile = tile >= 0 ? tile : gemm_tile_for(families, m, n, k, sm_count, smem_per_sm);
  const GemmTile& t = gemm_tiles[plan.tile];
  if (t.family == GemmFamily::tma_decode) {
    plan_decode(t, n, k, sm_count, smem_per_sm, plan);
    return plan;
  }
  if (t.streaming) {
    plan.splits = stream_k_split(t, ceil_div(n, 16), k, sm_count);
    plan.k_tiles_per_split = static_cast<int>(ceil_div(ceil_div(k, k_tile), plan.splits));
    return plan;
  }
  const std::int64_t rows = t.weights_are_rows() ? n : m, cols = t.weights_are_rows() ? m : n;  // kernel coordinates
  const std::int64_t tiles = ceil_div(rows, t.bm) * ceil_div(cols, t.bn);
  const std::int64_t k_tiles = ceil_div(k, k_tile);
  const std::int64_t per_sm = std::max<std::int64_t>(
      1, std::min<std::int64_t>(smem_per_sm / (t.smem_bytes() + 1024), 2048 / t.threads()));  // 1 KB: system use
  const std::int64_t slots = per_sm * sm_count;
  // Model: time ~ waves x K tiles per CTA, times (1 + partials' bytes / operand bytes).
  double best = 0;
  // A split walks at least min_tiles_per_split K tiles, so its pipeline fills before it drains.
  const std::int64_t most_splits = std::clamp<std::int64_t>(k_tiles / min_tiles_per_split, 1, max_splits);
  for (std::int64_t s = 1; s <= most_splits; ++s) {
    const std::int64_t per_split = ceil_div(k_tiles, s), splits = ceil_div(k_tiles, per_split);
    const double busy = static_cast<double>(tiles * k_tiles) / (ceil_div(tiles * splits, slots) * slots * per_split);
    const double extra = splits > 1 ? 8.0 * splits * m * n / (static_cast<double>(n + m) * k) : 0.0;
    if (const double efficiency = busy / (1 + extra); efficiency > best * 1.02) {  // ties: fewer splits
      best = efficiency;
      plan.splits = static_cast<int>(splits);
      plan.k_tiles_per_split = static_cast<int>(per_split);
    }
  }
  plan.waves_k_tiles = static_cast<double>(tiles * k_tiles) / (best * static_cast<double>(slots));
  if (t.family == GemmFamily::wgmma_bf16) plan.bf16_operand_bytes = dequantize_bf16_bytes(m, k);
  plan.workspace_bytes = plan.bf16_operand_bytes;
  if (plan.splits > 1) plan.workspace_bytes += static_cast<std::uint64_t>(plan.splits * m * n * 4);
  return plan;
}

std::vector<jit::TemplateArg> mma_kernel_args(const GemmTile& t, DType out) {
  if (t.streaming)
    return {{"tokens", std::to_string(t.bn)},
            {"warps", std::to_string(t.warps_m)},
            {"groups", std::to_string(t.stages)},
            {"out", out_type(out)}};
  return {{"bm", std::to_string(t.bm)},
          {"bn", std::to_string(t.bn)},
          {"warps_m", std::to_string(t.warps_m)},
          {"warps_n", std::to_string(t.warps_n)},
          {"stages", std::to_string(t.stages)},
          {"out", out_type(out)},
          {"swap_ab", t.swap_ab ? "true" : "false"}};
}

std::vector<jit::TemplateArg> wgmma_kernel_args(const GemmTile& t, DType out) {
  return {{"bm", std::to_string(t.bm)},
          {"bn", std::to_string(t.bn)},
          {"stages", std::to_string(t.stages)},
          {"out", out_type(out)}};
}

std::vector<jit::TemplateArg> decode_tma_kernel_args(const GemmTile& t, DType out) {
  return {{"rows", std::to_string(t.bm)},
          {"tokens", std::to_string(t.bn)},
          {"stages", std::to_string(t.stages)},
          {"out", out_type(out)}};
}

std::vector<jit::TemplateArg> decode_reduce_kernel_args(const GemmTile& t, DType out) {
  return {{"rows", std::to_string(t.bm)}, {"tokens", std::to_string(t.bn)}, {"out", out_type(out)}};
}

runtime::LaunchConfig tile_launch_config(const GemmTile& tile, CUstream stream) {
  runtime::LaunchConfig config;
  config.block[0] = tile.threads();
  config.dynamic_smem = tile.smem_bytes();
  config.stream = stream;
  return config;
}

jit::KernelSpec gemm_kernel_spec(const GemmTile& t, DType out, const jit::Arch& arch) {
  if (arch.sm() < 89)
    throw Error(ErrorCode::unsupported,
                fmt::format("the MXFP8 GEMM needs fp8 tensor cores (sm_89 or newer), not {}", arch.name()));
  if (t.family == GemmFamily::wgmma || t.family == GemmFamily::wgmma_bf16) {
    const bool bf16 = t.family == GemmFamily::wgmma_bf16;
    const std::string family = bf16 ? "mxfp8_gemm_wgmma_bf16" : "mxfp8_gemm_wgmma";
    if (!gemm_family_supported(t.family, arch))
      throw Error(ErrorCode::unsupported, fmt::format("the {} GEMM needs sm_90a, not {}", family, arch.name()));
    std::vector<jit::TemplateArg> args = wgmma_kernel_args(t, out);
    if (!bf16) args.push_back({"swap_ab", t.swap_ab ? "true" : "false"});  // bf16 tiles: weights are rows
    return jit::KernelSpec{family, "mxjit::" + family + "_kernel", std::move(args), arch};
  }
  if (t.family == GemmFamily::tma_decode) {
    if (!gemm_family_supported(t.family, arch))
      throw Error(ErrorCode::unsupported, fmt::format("the tma_decode GEMM needs sm_90, not {}", arch.name()));
    return jit::KernelSpec{"mxfp8_gemm_decode_tma", "mxjit::mxfp8_gemm_decode_tma_kernel",
                           decode_tma_kernel_args(t, out), arch};
  }
  return jit::KernelSpec{t.streaming ? "mxfp8_gemm_stream" : "mxfp8_gemm_mma",
                         t.streaming ? "mxjit::mxfp8_gemm_stream_kernel" : "mxjit::mxfp8_gemm_mma_kernel",
                         mma_kernel_args(t, out), arch};
}

std::vector<jit::KernelSpec> gemm_launch_kernel_specs(const GemmTile& tile, DType out, const jit::Arch& arch) {
  std::vector<jit::KernelSpec> specs = {gemm_kernel_spec(tile, out, arch)};
  if (tile.family == GemmFamily::wgmma_bf16) specs.push_back(dequantize_bf16_kernel_spec(arch));
  // Whether a launch splits K, or shares row tiles, depends on the GPU.
  if (tile.family == GemmFamily::tma_decode) specs.push_back(decode_reduce_kernel_spec(tile, out, arch));
  else if (!tile.streaming) specs.push_back(split_reduce_kernel_spec(out, arch));
  return specs;
}

std::vector<jit::KernelSpec> all_gemm_kernel_specs(const jit::Arch& arch) {
  std::vector<jit::KernelSpec> specs;
  for (const GemmTile& t : gemm_tiles)
    if (GemmFamilies::dispatched(arch).contains(t.family) && t.max_tokens > 0)  // not the tuning candidates
      for (DType out : {DType::bf16, DType::fp16})
        for (jit::KernelSpec& spec : gemm_launch_kernel_specs(t, out, arch)) specs.push_back(std::move(spec));
  return specs;
}

}  // namespace ops

std::uint64_t gemm_mxfp8_workspace_bytes(std::int64_t m, std::int64_t n, std::int64_t k) {
  if (m < 1 || n < 1 || k < 32 || k % 32 != 0)
    ops::invalid_argument(fmt::format("gemm_mxfp8_workspace_bytes: need M, N >= 1 and K a positive multiple of 32, "
                                      "got M = {}, N = {}, K = {}", m, n, k));
  const int device = runtime::current_device();
  const runtime::DeviceInfo& info = runtime::device_info(device);
  // Room for either family (tests and tuning may run the portable one on any GPU) and for whatever tile
  // the tuning database picks for either output type.
  std::uint64_t bytes = 0;
  std::vector<ops::GemmFamilies> choices = {ops::GemmFamilies::dispatched(info.arch)};
  for (ops::GemmFamily f : {ops::GemmFamily::wgmma, ops::GemmFamily::mma, ops::GemmFamily::wgmma_bf16})
    if (ops::gemm_family_supported(f, info.arch)) choices.push_back(f);
  for (const ops::GemmFamilies& families : choices)
    for (DType out : {DType::bf16, DType::fp16}) {
      const int tile =
          ops::choose_gemm_tile(ops::gemm_tuning(device), families, m, n, k, out, info.sm_count, info.smem_per_sm);
      bytes = std::max(bytes, ops::plan_gemm(families, m, n, k, info.sm_count, info.smem_per_sm, tile).workspace_bytes);
    }
  return bytes;
}

void gemm_mxfp8(const TensorView& a, const TensorView& a_scales, const TensorView& b, const TensorView& b_scales,
                const TensorView* bias, const TensorView& out, std::uint64_t workspace, std::uint64_t workspace_bytes,
                CUstream stream) {
  ops::launch_gemm(std::nullopt, a, a_scales, b, b_scales, bias, out, workspace, workspace_bytes, stream);
}

namespace ops {

void launch_gemm(std::optional<GemmFamilies> requested, const TensorView& a, const TensorView& a_scales, const TensorView& b,
                 const TensorView& b_scales, const TensorView* bias, const TensorView& out, std::uint64_t workspace,
                 std::uint64_t workspace_bytes, CUstream stream, int tile_override) {
  if (a.ndim != 2) invalid_argument(fmt::format("gemm_mxfp8: a must be 2-D [M, K], got shape {}", shape_text(a)));
  const std::int64_t m = a.shape[0], k = a.shape[1];
  const std::int64_t n = b.ndim == 2 ? b.shape[0] : -1;
  if (k % 32 != 0 || k == 0)
    invalid_argument(fmt::format("MXFP8 requires K (the reduction dimension) to be a positive multiple of 32, got K = {}", k));
  if (m < 1 || n < 1) invalid_argument(fmt::format("gemm_mxfp8: need M >= 1 and N >= 1, got M = {}, N = {}", m, n));
  require_mxfp8_matrix(a, a_scales, k, "a", "a_scales");
  require_mxfp8_matrix(b, b_scales, k, "b", "b_scales");
  require_dtype(out, {DType::bf16, DType::fp16}, "out");
  require_matrix(out, m, n, "out");
  require_pointer(out.data, 2, "out");
  if (bias) {
    require_dtype(*bias, {out.dtype}, "bias");
    if (bias->ndim != 1 || bias->shape[0] != n || bias->strides[0] != 1)
      invalid_argument(fmt::format("bias must be a contiguous [{}] vector, got shape {}", n, shape_text(*bias)));
    require_pointer(bias->data, 2, "bias");
  }
  if (m > (1 << 30) || n > (1 << 30) || k > (1 << 30))
    invalid_argument(fmt::format("gemm_mxfp8: dimensions above 2^30 are not supported (M = {}, N = {}, K = {})", m, n, k));

  const int device = runtime::current_device();
  const runtime::DeviceInfo& info = runtime::device_info(device);
  const GemmFamilies families = requested.value_or(GemmFamilies::dispatched(info.arch));
  const int tile_choice =
      tile_override >= 0 ? tile_override
                         : choose_gemm_tile(gemm_tuning(device), families, m, n, k, out.dtype, info.sm_count, info.smem_per_sm);
  const GemmPlan plan = plan_gemm(families, m, n, k, info.sm_count, info.smem_per_sm, tile_choice);
  if (workspace_bytes < plan.workspace_bytes || (plan.workspace_bytes > 0 && workspace == 0))
    invalid_argument(fmt::format("gemm_mxfp8: workspace of {} bytes is too small: M = {}, N = {}, K = {} needs {} "
                                 "(gemm_mxfp8_workspace_bytes)", workspace_bytes, m, n, k, plan.workspace_bytes));
  const GemmTile& tile = gemm_tiles[plan.tile];
  if (!gemm_family_supported(tile.family, info.arch))
    throw Error(ErrorCode::unsupported, fmt::format("the GEMM tile {} needs sm_90a; this GPU is {}", tile.name(),
                                                    info.arch.name()));
  // Kernel coordinates: the weight may be the kernel's A operand.
  const bool swap = tile.weights_are_rows();
  const TensorView& ka = swap ? b : a;
  const TensorView& ka_scales = swap ? b_scales : a_scales;
  const TensorView& kb = swap ? a : b;
  const TensorView& kb_scales = swap ? a_scales : b_scales;
  const std::int64_t km = ka.shape[0], kn = kb.shape[0];
  const bool two_d_grid = !tile.streaming && (tile.family == GemmFamily::mma || tile.family == GemmFamily::wgmma);
  if (two_d_grid && ceil_div(km, tile.bm) > 65535)  // grid.y
    invalid_argument(fmt::format("gemm_mxfp8: {} = {} needs more than 65535 tiles of {} rows; split the batch",
                                 swap ? "N" : "M", km, tile.bm));
  const runtime::Kernel& kernel =
      gemm_kernels().get(device, plan.tile * 2 + out_index(out.dtype), {tile.threads(), tile.smem_bytes()},
                         [&] { return gemm_kernel_spec(tile, out.dtype, info.arch); });

  GemmParams p{};
  p.a = reinterpret_cast<const unsigned char*>(ka.data);
  p.a_scales = reinterpret_cast<const unsigned char*>(ka_scales.data);
  p.b = reinterpret_cast<const unsigned char*>(kb.data);
  p.b_scales = reinterpret_cast<const unsigned char*>(kb_scales.data);
  p.out = reinterpret_cast<void*>(out.data);
  p.bias = bias ? reinterpret_cast<const void*>(bias->data) : nullptr;
  const bool split_k = plan.splits > 1 && !tile.streaming;  // streaming tiles split K inside the CTA
  p.partials = split_k || plan.decode_shared_tiles ? reinterpret_cast<float*>(workspace + plan.bf16_operand_bytes)
                                                   : nullptr;
  p.m = static_cast<int>(km);
  p.n = static_cast<int>(kn);
  p.k = static_cast<int>(k);
  p.lda = ka.strides[0];
  p.ldb = kb.strides[0];
  p.ldo = out.strides[0];
  p.lda_s = static_cast<int>(ka_scales.strides[0]);
  p.ldb_s = static_cast<int>(kb_scales.strides[0]);
  p.k_tiles_per_split = plan.k_tiles_per_split;
  p.splits = plan.splits;

  runtime::LaunchConfig config = tile_launch_config(tile, stream);
  // The decode kernels wait for the previous grid on the device (templates/grid_dependency.cuh).
  config.early_start = tile.streaming || tile.family == GemmFamily::tma_decode;
  GemmTensorMaps maps{};  // the TMA kernels' second parameter
  static_assert(sizeof(CUtensorMap) == sizeof(TensorMap));
  if (tile.streaming) {  // one CTA per work tile
    config.grid[0] = static_cast<unsigned>(ceil_div(km, 16 * tile.warps_m / plan.splits));
  } else if (tile.family == GemmFamily::tma_decode) {  // persistent; TMA views of the weights and tokens
    p.decode = plan.decode;
    config.grid[0] = static_cast<unsigned>(plan.decode.ctas);
    const auto map_of = [&](const unsigned char* base, std::int64_t rows, long long ld, int box_rows) {
      return runtime::tensor_map(
          {reinterpret_cast<std::uint64_t>(base), CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, 2,
           {static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(rows)}, {static_cast<std::uint64_t>(ld)}},
          {static_cast<std::uint32_t>(k_tile), static_cast<std::uint32_t>(box_rows), 1}, CU_TENSOR_MAP_SWIZZLE_128B);
    };
    const CUtensorMap weights = map_of(p.a, km, p.lda, tile.bm), tokens = map_of(p.b, kn, p.ldb, tile.bn);
    std::memcpy(&maps.weights, &weights, sizeof(weights));
    std::memcpy(&maps.tokens, &tokens, sizeof(tokens));
  } else if (tile.family == GemmFamily::wgmma_bf16) {  // the tokens dequantized first; persistent on a tile raster
    const std::int64_t tiles = ceil_div(km, tile.bm) * ceil_div(kn, tile.bn);
    if (tiles > 0x7FFFFFFF)
      invalid_argument(fmt::format("gemm_mxfp8: M = {}, N = {} make more than 2^31 - 1 tiles; split the batch", m, n));
    p.b_exact = reinterpret_cast<const unsigned char*>(
        workspace + static_cast<std::uint64_t>(kn * dequantize_bf16_row_elements(k) * 2));
    dequantize_bf16(kb, kb_scales, workspace, stream);
    // No more CTAs than fit at once: each walks items of templates/gemm_tile_raster.cuh.
    config.grid[0] = static_cast<unsigned>(
        std::min<std::int64_t>(tiles * plan.splits, std::int64_t{info.sm_count} * kernel.blocks_per_sm()));
    // The kernel's TMA views of the weights and of the prepass's bf16 tokens (GemmTensorMaps).
    const CUtensorMap weights = runtime::tensor_map(
        {reinterpret_cast<std::uint64_t>(p.a), CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, 2,
         {static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(km)}, {static_cast<std::uint64_t>(p.lda)}},
        {64, static_cast<std::uint32_t>(tile.bm), 1}, CU_TENSOR_MAP_SWIZZLE_NONE);
    const CUtensorMap tokens = dequantize_bf16_tensor_map(workspace, kn, k, tile.bn);
    std::memcpy(&maps.weights, &weights, sizeof(weights));
    std::memcpy(&maps.tokens, &tokens, sizeof(tokens));
  } else {
    config.grid[0] = static_cast<unsigned>(ceil_div(kn, tile.bn));
    config.grid[1] = static_cast<unsigned>(ceil_div(km, tile.bm));
    config.grid[2] = static_cast<unsigned>(plan.splits);
  }
  void* args[] = {&p, &maps};  // kernels of one parameter ignore the second
  kernel.launch(config, args);
  if (split_k) launch_split_reduce(p, m, n, out.dtype, info, stream);
  if (plan.decode_shared_tiles) launch_decode_reduce(tile, plan.tile, p, out.dtype, info.arch, stream);
}

}  // namespace ops
}  // namespace mxjit
