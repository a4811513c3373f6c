// Internal side of the grouped (per-expert) GEMM: its tiles, the tile choice, the specializations.
#pragma once

#include <cstdint>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "mxjit/grouped_gemm.hpp"
#include "ops/gemm.hpp"

namespace mxjit::ops {

// Tiles of templates/mxfp8_grouped_gemm.cuh (mma.sync, and the streaming decode kernel), of
// templates/mxfp8_grouped_gemm_decode_tma.cuh (decode on sm_90) and of
// templates/mxfp8_grouped_gemm_wgmma_bf16.cuh (prefill on sm_90a), in kernel coordinates as for the dense
// GEMM (GemmTile::weights_are_rows). max_tokens here bounds the typical rows per expert the tile is
// chosen for; equal bounds go to the later row.
// Measured on H100 (bench/METHOD.md, BM_GroupedDecodeTile at e1b4458, both GEMMs of a MoE layer on one
// tile): the TMA decode tiles beat the streaming ones by 13-20% where 500 MiB and more of expert weights
// were touched, tied at ~370 MiB, and lost where 36-170 MiB were (by 35% at 36 MiB).
inline constexpr std::int64_t grouped_tma_decode_min_touched_bytes = std::int64_t{256} << 20;

inline constexpr GemmTile grouped_gemm_tiles[] = {
    // family            bm   bn  wm wn st swap max rows
    {GemmFamily::mma, 64, 8, 4, 1, 6, true, 0},     // decode through shared memory (on request)
    {GemmFamily::mma, 128, 8, 8, 1, 4, true, 0},
    {GemmFamily::mma, 128, 16, 8, 1, 4, true, 0},
    {GemmFamily::mma, 64, 128, 2, 4, 4, false, 64},
    {GemmFamily::mma, 128, 128, 2, 4, 4, false, any_m},  // prefill
    {GemmFamily::mma, 16, 8, 8, 1, 2, true, 8, true},    // decode: weights streamed into registers
    {GemmFamily::mma, 16, 16, 8, 1, 1, true, 16, true},
    {GemmFamily::wgmma_bf16, 128, 64, 2, 1, 11, false, 64},   // few tokens: deep, to keep weights in flight
    {GemmFamily::wgmma_bf16, 128, 128, 2, 1, 7, false, 128},
    {GemmFamily::wgmma_bf16, 128, 256, 2, 1, 4, false, any_m},
    // Decode on sm_90: weights by TMA, stream-K shares; only where many expert bytes are touched.
    {GemmFamily::tma_decode, 128, 8, 8, 1, 11, true, 8, false, grouped_tma_decode_min_touched_bytes},
    {GemmFamily::tma_decode, 128, 16, 8, 1, 10, true, 16, false, grouped_tma_decode_min_touched_bytes},
};

// The tile for experts of `typical_rows` rows each (an index into grouped_gemm_tiles): among the tiles of
// `families`, the smallest max_tokens that holds them, of those whose min_weight_bytes the expert weight
// bytes the call is expected to read (`touched_bytes`; 0 when unknown) reach.
int grouped_gemm_tile_for(GemmFamilies families, std::int64_t typical_rows, std::int64_t touched_bytes);

// Workspace bytes a launch of `tile` needs for `rows` group rows (out's rows) of K on a GPU of `sm_count`
// SMs with `smem_per_sm` bytes of shared memory each: the wgmma_bf16 tiles' dequantized operand in group
// order, the tma_decode tiles' partials; 0 for the others.
std::uint64_t grouped_gemm_workspace_bytes(const GemmTile& tile, std::int64_t rows, std::int64_t k, int sm_count,
                                           int smem_per_sm);

jit::KernelSpec grouped_gemm_kernel_spec(const GemmTile& tile, DType out, const jit::Arch& arch);
// Everything one launch of `tile` runs: its kernel, and the operand prepass for wgmma_bf16 or the
// shared-tile sum for tma_decode.
std::vector<jit::KernelSpec> grouped_gemm_launch_kernel_specs(const GemmTile& tile, DType out, const jit::Arch& arch);
std::vector<jit::KernelSpec> all_grouped_gemm_kernel_specs(const jit::Arch& arch);

// grouped_gemm_mxfp8 with the tile chosen by the caller (tests run every tile); -1 = the heuristic over
// the families dispatched on this GPU, or the portable one where its tile's workspace does not fit.
void launch_grouped_gemm(const TensorView& a, const TensorView& a_scales, const TensorView* a_rows, const TensorView& w,
                         const TensorView& w_scales, const TensorView* bias, const ExpertGroups& groups,
                         const TensorView& out, std::uint64_t workspace, std::uint64_t workspace_bytes,
                         CUstream stream, int tile = -1);

}  // namespace mxjit::ops
