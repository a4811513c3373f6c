// Grouped MXFP8 GEMM over experts (the MoE layer's prefill) on the exact bf16 wgmma tile of
// mxfp8_gemm_wgmma_bf16.cuh (sm_90a): the token-side operand was dequantized once by the prepass
// (mxfp8_dequantize_bf16.cuh, rows in the operand's own order); each work tile gathers its expert's
// token rows from it. Work tiles (expert, token tile, weight tile) are numbered as in the mma.sync
// grouped kernel (mxfp8_grouped_gemm_schedule.cuh), token tiles fastest; CTA x takes work tile x, and
// the host launches as many CTAs as the groups can have tiles (the rest leave at once), since the
// warp-specialized tile gives its producer warpgroup's registers away for the whole CTA's life.
#pragma once

#include "grid_dependency.cuh"
#include "mxfp8_gemm_wgmma_bf16.cuh"
#include "mxfp8_grouped_gemm_schedule.cuh"

namespace mxjit {

template <int BM, int BN, int Stages, class Out>
__global__ void __launch_bounds__(kBf16Threads, 1) mxfp8_grouped_gemm_wgmma_bf16_kernel(const GroupedGemmParams p) {
  start_in_stream_order();
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = align_shared_1024(smem_raw);
  __shared__ int tiles_through[kGroupedGemmMaxExperts];  // tiles of experts 0..e
  __shared__ int token_row[BN];                          // source row of each token of the tile
  __shared__ GroupedWork work;

  grouped_tile_prefix(p, BN, (p.n + BM - 1) / BM, tiles_through);
  const int w = blockIdx.x;
  if (w >= tiles_through[p.experts - 1]) return;  // the groups have fewer tiles than the bound
  grouped_next_work<BN, BM, kBf16Threads>(p, tiles_through, w, work, token_row);
  const int e = work.expert;
  const Bf16TileOperands op{p.b + e * p.b_expert_stride, p.b_scales + e * p.b_scales_expert_stride, p.ldb, p.ldb_s,
                            work.w0, p.n, p.a_bf16, p.a_exact, p.lda_bf16, p.a, p.a_scales, p.lda, p.lda_s,
                            p.k, 0, (p.k + kGemmBK - 1) / kGemmBK};
  const auto tile_row = [&](int r) { return token_row[r]; };
  const Bf16GatherLoads<decltype(tile_row)> loads{tile_row};
  if (!wgmma_bf16_tile<BM, BN, Stages>(smem, op, loads, tile_row)) return;  // the producer is done

  const float* result = reinterpret_cast<const float*>(smem);
  unsigned short* out = static_cast<unsigned short*>(p.out);
  const unsigned short* bias = p.bias ? static_cast<const unsigned short*>(p.bias) + static_cast<long long>(e) * p.n : nullptr;
  const int t0 = work.t0, count = work.count, row_begin = work.row_begin, w0 = work.w0;
  // Consecutive threads take consecutive weight rows: consecutive output columns.
#pragma unroll 4
  for (int i = threadIdx.x; i < BM * BN; i += kBf16Consumers) {
    const int token = t0 + i / BM, col = w0 + i % BM;
    if (token >= count || col >= p.n) continue;
    const float v = result[(i / BM) * (BM + 4) + i % BM];
    out[(row_begin + token) * p.ldo + col] = Out::from_float(bias ? v + Out::to_float(bias[col]) : v);
  }
}

}  // namespace mxjit
