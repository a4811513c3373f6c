// Internal side of the grouped (per-expert) GEMM: its tiles, the tile choice, the specializations.
#pragma once

#include <cstdint>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "mxjit/grouped_gemm.hpp"
#include "ops/gemm.hpp"

namespace mxjit::ops {

// mma.sync tiles of templates/mxfp8_grouped_gemm.cuh (kernel coordinates as for the dense GEMM: with
// swap_ab the kernel's rows are weight rows and its columns an expert's tokens). max_tokens here bounds
// the typical rows per expert the tile is chosen for.
inline constexpr GemmTile grouped_gemm_tiles[] = {
    // family            bm   bn  wm wn st swap max rows
    {GemmFamily::mma, 64, 8, 4, 1, 6, true, 0},     // decode through shared memory (on request)
    {GemmFamily::mma, 128, 8, 8, 1, 4, true, 0},
    {GemmFamily::mma, 128, 16, 8, 1, 4, true, 0},
    {GemmFamily::mma, 64, 128, 2, 4, 4, false, 64},
    {GemmFamily::mma, 128, 128, 2, 4, 4, false, any_m},  // prefill
    {GemmFamily::mma, 16, 8, 8, 1, 2, true, 8, true},    // decode: weights streamed into registers
    {GemmFamily::mma, 16, 16, 8, 1, 1, true, 16, true},
};

// The tile for experts of `typical_rows` rows each (an index into grouped_gemm_tiles): the smallest
// max_tokens that holds them.
int grouped_gemm_tile_for(std::int64_t typical_rows);

jit::KernelSpec grouped_gemm_kernel_spec(const GemmTile& tile, DType out, const jit::Arch& arch);
std::vector<jit::KernelSpec> all_grouped_gemm_kernel_specs(const jit::Arch& arch);

// grouped_gemm_mxfp8 with the tile chosen by the caller (tests run every tile); -1 = the heuristic.
void launch_grouped_gemm(const TensorView& a, const TensorView& a_scales, const TensorView* a_rows, const TensorView& w,
                         const TensorView& w_scales, const TensorView* bias, const ExpertGroups& groups,
                         const TensorView& out, CUstream stream, int tile = -1);

}  // namespace mxjit::ops
