// Internal side of the GEMM op: tile configurations, the dispatch heuristic, specializations.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jit/kernel_spec.hpp"
#include "mxjit/gemm.hpp"
#include "runtime/kernel.hpp"

namespace mxjit::ops {

// One tile shape of the mma.sync kernel (templates/mxfp8_gemm_mma.cuh), in kernel coordinates: with
// swap_ab the kernel's rows are weight rows (N) and its columns tokens (M).
struct GemmTile {
  int bm, bn, warps_m, warps_n, stages;
  bool swap_ab;
  unsigned threads() const { return static_cast<unsigned>(warps_m * warps_n * 32); }
  unsigned smem_bytes() const;
  std::string name() const;  // "16x64_w1x4_s6"
};

inline constexpr GemmTile gemm_tiles[] = {
    {128, 8, 8, 1, 4, true},    // decode, M <= 8: weights on the mma's 16-row side, tokens on its 8 columns
    {128, 16, 8, 1, 4, true},   // decode, M <= 16
    {64, 128, 2, 4, 4, false},  // small batches
    {128, 128, 2, 4, 4, false}, // prefill
};

struct GemmPlan {
  int tile = 0;  // index into gemm_tiles
  int splits = 1;
  int k_tiles_per_split = 1;
  std::uint64_t workspace_bytes = 0;
};

// The built-in heuristic: the tile by M; then the number of K splits that wastes the least of the chip
// to a partly filled last wave of CTAs, counting the split-K partials' extra traffic against it.
// `smem_per_sm` bounds how many CTAs of the tile an SM holds at once.
GemmPlan plan_gemm(std::int64_t m, std::int64_t n, std::int64_t k, int sm_count, int smem_per_sm);

jit::KernelSpec gemm_kernel_spec(const GemmTile& tile, DType out, const jit::Arch& arch);
std::vector<jit::KernelSpec> all_gemm_kernel_specs(const jit::Arch& arch);

}  // namespace mxjit::ops
