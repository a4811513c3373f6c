// Internal side of the GEMM op: tile configurations, the dispatch heuristic, specializations.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "jit/tuning_db.hpp"
#include "mxjit/gemm.hpp"
#include "runtime/kernel.hpp"
#include "templates/mxfp8_gemm_params.cuh"

namespace mxjit::ops {

// The GEMM kernel families: the portable mma.sync one (templates/mxfp8_gemm_mma.cuh and the streaming
// decode kernel, sm_89 and newer; on sm_90 its fp8 mma runs as f16 HMMA with fp32 accumulation), fp8 wgmma
// (templates/mxfp8_gemm_wgmma.cuh, sm_90a), bf16 wgmma on dequantized operands (templates/
// mxfp8_gemm_wgmma_bf16.cuh, sm_90a) and the TMA-fed decode kernel (templates/mxfp8_gemm_decode_tma.cuh,
// sm_90, at most 16 tokens). Measured on H100: fp8 wgmma sums each 32-deep block with ~14-bit
// alignment, errors up to ~2^-14 sum|a b|, outside design.md's 2^-16 bound, so it is never dispatched
// (tests and tuning run it on request); on sm_90a tma_decode takes M <= 16 and wgmma_bf16 (exact) the rest.
enum class GemmFamily { wgmma, mma, wgmma_bf16, tma_decode };
bool gemm_family_supported(GemmFamily family, const jit::Arch& arch);

// A set of kernel families: those dispatch may choose from on an arch, or one a caller forces.
class GemmFamilies {
 public:
  GemmFamilies(GemmFamily only) : bits_(bit(only)) {}  // NOLINT: one family is a set
  static GemmFamilies dispatched(const jit::Arch& arch);  // mma, and on sm_90 tma_decode, on sm_90a wgmma_bf16
  bool contains(GemmFamily f) const { return (bits_ & bit(f)) != 0; }
  GemmFamilies with(GemmFamily f) const { return GemmFamilies(bits_ | bit(f)); }

 private:
  explicit GemmFamilies(unsigned bits) : bits_(bits) {}
  static unsigned bit(GemmFamily f) { return 1u << static_cast<unsigned>(f); }
  unsigned bits_;
};

// One tile shape, in kernel coordinates (see weights_are_rows). wgmma and wgmma_bf16 tiles have one
// (consumer) warpgroup per 64 rows (warps_m = bm / 64, warps_n = 1); wgmma_bf16 adds a producer warpgroup.
// tma_decode tiles: bm weight rows (one consumer warp per 16, warps_m of them, plus a producer warp), bn
// tokens, `stages` 128-deep stages in flight.
struct GemmTile {
  GemmFamily family;
  int bm, bn, warps_m, warps_n, stages;
  bool swap_ab;  // a decode tile: weights are the kernel's rows, and it holds at most bn tokens
  // The heuristic takes, among the tiles of the families allowed, the one with the smallest max_tokens
  // >= M; of equals the later row (rows are listed older kernels first); 0 = only on request (tuning).
  std::int64_t max_tokens;
  // The decode kernel of templates/mxfp8_gemm_stream.cuh: weights straight from global memory into mma
  // fragments. bm = 16 rows per warp group, bn = tokens, warps_m = warps, stages = load groups in flight;
  // plan_gemm's `splits` is then the number of warps sharing a row group's K (no workspace).
  bool streaming = false;
  // The heuristic takes the tile only for weights of at least this many bytes (N x K), unless no other
  // tile of the families allowed holds M.
  std::int64_t min_weight_bytes = 0;
  // Whether the kernel's rows are weight rows (N) and its columns tokens (M): swap_ab tiles, and every
  // wgmma_bf16 tile (weights in registers, tokens from shared memory), which holds any M.
  bool weights_are_rows() const { return swap_ab || family == GemmFamily::wgmma_bf16; }
  unsigned threads() const;
  unsigned smem_bytes() const;
  std::string name() const;  // "wgmma_128x128_s4"
};

inline constexpr std::int64_t any_m = std::int64_t{1} << 62;

// Measured on H100 (bench/METHOD.md): the TMA decode kernel beats the streaming one on a 112 MiB weight
// (N = 28672, K = 4096: 1.17x at M = 1, 1.38x at M = 16) and loses on 16-56 MiB ones (20.9 vs 14.3 us
// at N = K = 4096). Both pay a fixed 16-22 us a launch that is not located yet (METHOD.md, size probe).
inline constexpr std::int64_t tma_decode_min_weight_bytes = std::int64_t{96} << 20;

inline constexpr GemmTile gemm_tiles[] = {
    // family             bm   bn  wm wn st swap  max_tokens
    {GemmFamily::wgmma, 64, 8, 1, 1, 6, true, 8},         // decode: weights on the 64-row side
    {GemmFamily::wgmma, 64, 16, 1, 1, 6, true, 16},
    {GemmFamily::wgmma, 128, 128, 2, 1, 4, false, any_m},
    {GemmFamily::mma, 128, 8, 8, 1, 4, true, 0},          // decode through shared memory, weights on
    {GemmFamily::mma, 128, 16, 8, 1, 4, true, 0},         // the mma's 16-row side (tuning candidates)
    {GemmFamily::mma, 64, 128, 2, 4, 4, false, 64},       // small batches
    {GemmFamily::mma, 128, 128, 2, 4, 4, false, any_m},   // prefill
    {GemmFamily::mma, 64, 8, 4, 1, 6, true, 0},           // decode candidates for tuning
    {GemmFamily::mma, 64, 16, 4, 1, 6, true, 0},
    {GemmFamily::mma, 128, 8, 8, 1, 6, true, 0},
    {GemmFamily::mma, 128, 16, 8, 1, 6, true, 0},
    {GemmFamily::mma, 64, 8, 4, 1, 8, true, 0},
    {GemmFamily::mma, 16, 8, 8, 1, 2, true, 8, true},     // decode: weights streamed into registers
    {GemmFamily::mma, 16, 16, 8, 1, 1, true, 16, true},
    // Exact bf16 wgmma (prefill): 128 weight rows (two warpgroups) x bn tokens, `stages` 64-deep stages.
    {GemmFamily::wgmma_bf16, 128, 64, 2, 1, 11, false, 64},  // few tokens: deep, to keep weights in flight
    {GemmFamily::wgmma_bf16, 128, 128, 2, 1, 7, false, 128},
    {GemmFamily::wgmma_bf16, 128, 256, 2, 1, 4, false, any_m},
    // Decode on sm_90: weights by TMA through `stages` shared-memory stages, persistent stream-K grid.
    // 64 rows, 2 CTAs per SM measured fastest on H100 (bench/METHOD.md); only for large weights.
    {GemmFamily::tma_decode, 64, 8, 4, 1, 8, true, 8, false, tma_decode_min_weight_bytes},
    {GemmFamily::tma_decode, 64, 16, 4, 1, 8, true, 16, false, tma_decode_min_weight_bytes},
    {GemmFamily::tma_decode, 128, 8, 8, 1, 6, true, 0},
    {GemmFamily::tma_decode, 128, 16, 8, 1, 6, true, 0},
    {GemmFamily::tma_decode, 128, 8, 8, 1, 11, true, 0},
    {GemmFamily::tma_decode, 128, 16, 8, 1, 10, true, 0},
};

// A tma_decode tile's persistent grid on a GPU of `sm_count` SMs with `smem_per_sm` bytes of shared memory
// each (one CTA per slot), and the workspace the partials of its shared row tiles take (two per CTA).
int decode_tma_ctas(const GemmTile& tile, int sm_count, int smem_per_sm);
std::uint64_t decode_tma_partial_bytes(const GemmTile& tile, int ctas);
// A tma_decode launch's second kernel (its shared-tile sum, dense or grouped): one 256-thread CTA per
// boundary between the walk's `ctas` shares; `params` is the kernel's one parameter. Launched early
// (programmatic dependent launch): the walk lets it start, it waits for the walk's partials on the device.
void launch_decode_boundaries(const runtime::Kernel& sum, int ctas, void* params, CUstream stream);

// Warps of a streaming tile that share one 16-row group's K: doubled from 1 while the work has fewer row
// groups than twice the SMs can take at once and each warp keeps at least two 128-deep K groups.
int stream_k_split(const GemmTile& tile, std::int64_t row_groups, std::int64_t k, int sm_count);

struct GemmPlan {
  int tile = 0;  // index into gemm_tiles
  int splits = 1;
  int k_tiles_per_split = 1;
  // tma_decode: the persistent grid's walk, and whether some row tile is shared by CTAs (then the
  // workspace holds two partials per CTA and a second launch sums them).
  DecodeWork decode{};
  bool decode_shared_tiles = false;
  // Workspace: the wgmma_bf16 family's dequantized activations (then one byte per token, padded to 256),
  // then the split-K partials and tile counters.
  std::uint64_t bf16_operand_bytes = 0;
  std::uint64_t workspace_bytes = 0;
  // The split choice's model of the time (mma, wgmma, wgmma_bf16): waves of CTAs x K tiles a CTA walks x
  // (1 + the partials' traffic over the operands'), in K tiles of the plan's tile.
  double waves_k_tiles = 0;
};

// The heuristic over a tile table (dense or grouped): among the tiles of `families`, the smallest
// max_tokens >= m (of equals the later row), counting only tiles whose min_weight_bytes `weight_bytes`
// reaches unless none of those holds m. An index into `tiles`.
int tile_for(std::span<const GemmTile> tiles, GemmFamilies families, std::int64_t m, std::int64_t weight_bytes);
// The tile the heuristic picks for M tokens of an [N, K] weight on a GPU of `sm_count` SMs with
// `smem_per_sm` bytes of shared memory each (an index into gemm_tiles): tile_for's, except that where it
// is the exact bf16 family's 128 x 256, a 128 x 128 tile whose waves fill the chip better takes over when
// the plan's model, weighted by the tiles' measured per-FLOP rates, has it 5% faster (mid-size M on
// narrow weights: bench/METHOD.md, session 23).
int gemm_tile_for(GemmFamilies families, std::int64_t m, std::int64_t n, std::int64_t k, int sm_count, int smem_per_sm);

// The tile dispatch uses: the tuning database's choice for this (M bucket, N, K, out) when it names a
// tile of `families` that can hold M, else the heuristic's (on a GPU of `sm_count` SMs).
int choose_gemm_tile(const jit::TuningDb& tuning, GemmFamilies families, std::int64_t m, std::int64_t n, std::int64_t k,
                     DType out, int sm_count, int smem_per_sm);

// The tuning database for `device`: loaded once, then a lock-free read; an unreadable or corrupt file is
// reported once as a warning and treated as empty.
const jit::TuningDb& gemm_tuning(int device);

// The launch plan: the tile by M (gemm_tile_for); then the number of K splits that wastes the least of
// the chip to a partly filled last wave of CTAs, counting the split-K partials' extra traffic against it
// (tma_decode: its persistent walk's shares). `smem_per_sm` bounds how many CTAs of the tile an SM holds
// at once. `tile` >= 0 forces that tile (an index into gemm_tiles of one of `families`), e.g. for tuning.
GemmPlan plan_gemm(GemmFamilies families, std::int64_t m, std::int64_t n, std::int64_t k, int sm_count, int smem_per_sm,
                   int tile = -1);

// gemm_mxfp8 with the kernel families (nullopt: those dispatched on this arch), and optionally the tile,
// chosen by the caller (tests run each family on one GPU; benchmarks and tuning sweep tiles). The
// workspace must fit plan_gemm's. The decode kernels (streaming, tma_decode) launch early on sm_90 and
// wait for the previous kernel on the device before they touch memory it may use (e.g. the quantize of x
// in Mxfp8Linear::apply), so their launch and set-up overlap its tail.
void launch_gemm(std::optional<GemmFamilies> families, const TensorView& a, const TensorView& a_scales, const TensorView& b,
                 const TensorView& b_scales, const TensorView* bias, const TensorView& out, std::uint64_t workspace,
                 std::uint64_t workspace_bytes, CUstream stream, int tile = -1);

jit::KernelSpec gemm_kernel_spec(const GemmTile& tile, DType out, const jit::Arch& arch);
// Everything a launch of `tile` may run: its kernel, the operand prepass for wgmma_bf16, the split-K or
// shared-tile sum.
std::vector<jit::KernelSpec> gemm_launch_kernel_specs(const GemmTile& tile, DType out, const jit::Arch& arch);
// A launch of `tile`'s kernel on `stream`: its block and dynamic shared memory; the grid is the caller's.
runtime::LaunchConfig tile_launch_config(const GemmTile& tile, CUstream stream);
// The template arguments of an mma.sync tile (tiled or streaming), shared by the dense and grouped kernels.
std::vector<jit::TemplateArg> mma_kernel_args(const GemmTile& tile, DType out);
// The same for a wgmma tile (bm, bn, stages, out; the fp8 family adds swap_ab).
std::vector<jit::TemplateArg> wgmma_kernel_args(const GemmTile& tile, DType out);
// The same for a tma_decode tile (rows, tokens, stages, out), and for its shared-tile sum (rows, tokens, out).
std::vector<jit::TemplateArg> decode_tma_kernel_args(const GemmTile& tile, DType out);
std::vector<jit::TemplateArg> decode_reduce_kernel_args(const GemmTile& tile, DType out);
// Every specialization gemm_mxfp8 can launch on `arch` (the dispatched families).
std::vector<jit::KernelSpec> all_gemm_kernel_specs(const jit::Arch& arch);

}  // namespace mxjit::ops
