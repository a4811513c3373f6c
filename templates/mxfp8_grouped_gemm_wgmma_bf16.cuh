// Grouped MXFP8 GEMM over experts (the MoE layer's prefill) on the exact bf16 wgmma pipeline of
// mxfp8_gemm_wgmma_bf16.cuh (sm_90a): the token-side operand was dequantized once by the prepass
// (mxfp8_dequantize_bf16.cuh) into group order (each group row's token gathered there), so a work
// tile's tokens are one TMA box of consecutive rows, as in the dense GEMM, and its expert's weights one
// box of a 3-D map. Work tiles (expert, token tile, weight tile) are numbered as in the mma.sync grouped
// kernel (mxfp8_grouped_gemm_schedule.cuh), token tiles fastest. Persistent: CTA b takes work tiles b,
// b + gridDim.x, ... (the host launches no more CTAs than fit at once). The producer warpgroup finds
// each tile itself, one tile ahead of the consumers, and hands it over in two slots.
#pragma once

#include "grid_dependency.cuh"
#include "mxfp8_gemm_params.cuh"
#include "mxfp8_gemm_wgmma_bf16.cuh"
#include "mxfp8_grouped_gemm_schedule.cuh"

namespace mxjit {

// A work tile as the producer found it: `ready` completes when producer thread 0 has written it, `done`
// when every consumer warp has stored the tile.
struct GroupedTileSlot {
  GroupedWork work;
  unsigned long long ready, done;
};

template <int BM, int BN, int Stages, class Out>
__global__ void __launch_bounds__(kBf16Threads, 1)
    mxfp8_grouped_gemm_wgmma_bf16_kernel(const GroupedGemmParams p, const __grid_constant__ GemmTensorMaps maps) {
  start_in_stream_order();
  extern __shared__ unsigned char smem_raw[];
  __shared__ int tiles_through[kGroupedGemmMaxExperts];  // tiles of experts 0..e
  __shared__ GroupedTileSlot slots[2];                   // the work tile of the CTA's j-th tile is in slots[j % 2]
  __shared__ unsigned long long full[Stages], empty[Stages];
  static_assert(bf16_kernel_fits<BN, Stages>(sizeof(tiles_through) + sizeof(slots) + sizeof(full) + sizeof(empty)),
                "the tile shape fits shared memory");
  if (threadIdx.x == 0)
    for (auto& slot : slots) {
      mbarrier_init(&slot.ready, 1);
      mbarrier_init(&slot.done, kBf16Consumers / 32);
    }
  Bf16Pipeline<BN, Stages> pipeline(align_shared_1024(smem_raw), full, empty);  // its barrier covers the slots'
  grouped_tile_prefix(p, BN, (p.n + BM - 1) / BM, tiles_through);
  const int tiles = tiles_through[p.experts - 1];
  auto operands = [&](const GroupedWork& work) {
    const int e = work.expert;
    return Bf16TileOperands{p.b + e * p.b_expert_stride, p.b_scales + e * p.b_scales_expert_stride, p.ldb, p.ldb_s,
                            work.w0, p.n, p.a_exact, p.a, p.a_scales, p.lda, p.lda_s, p.k, 0,
                            (p.k + kGemmBK - 1) / kGemmBK};
  };

  if (threadIdx.x >= kBf16Consumers) {  // the producer warpgroup
    setmaxnreg_dec<kBf16ProducerRegisters>();
    const int tid = threadIdx.x - kBf16Consumers;
    int j = 0;
#pragma unroll 1
    for (int w = blockIdx.x; w < tiles; w += gridDim.x, ++j) {
      GroupedTileSlot& slot = slots[j % 2];
      // The consumers finish tile j - 2 once all of it is announced; a tile of fewer stages than the lag
      // leaves some of it unannounced until stages of tile j are issued, so announce it all first.
      if (2 * ((p.k + kGemmBK - 1) / kGemmBK) < Bf16Pipeline<BN, Stages>::kAnnounceLag) pipeline.announce_all();
      mbarrier_wait(&slot.done, ((j / 2) & 1) ^ 1);  // the first lap finds both slots free
      const GroupedWork work = grouped_work_of<BN, BM>(p, tiles_through, w);
      if (tid == 0) {
        slot.work = work;
        mbarrier_arrive(&slot.ready);
      }
      pipeline.produce(operands(work), Bf16TmaLoads{&maps.weights, &maps.tokens, work.row_begin + work.t0, work.expert},
                       tid);
    }
    pipeline.announce_all();
    return;
  }
  setmaxnreg_inc<kBf16ConsumerRegisters>();

  int j = 0;
#pragma unroll 1
  for (int w = blockIdx.x; w < tiles; w += gridDim.x, ++j) {
    GroupedTileSlot& slot = slots[j % 2];
    mbarrier_wait(&slot.ready, (j / 2) & 1);
    const GroupedWork work = slot.work;
    const Bf16TileOperands op = operands(work);
    float acc[BN / 2];
    // The prepass's rows and flags are in group order; the exact path reads the fp8 rows themselves.
    bool exact = tokens_need_exact<BN>(op, RowRange{work.row_begin + work.t0, work.row_begin + work.count});
    exact |= pipeline.consume(op, acc);
    const unsigned short* bias =
        p.bias ? static_cast<const unsigned short*>(p.bias) + static_cast<long long>(work.expert) * p.n + work.w0 : nullptr;
    unsigned short* out = static_cast<unsigned short*>(p.out);
    const int cols = min(BM, p.n - work.w0);
    // One barrier of the consumers per tile: it decides the path, and it also orders this tile's use of
    // the spare memory after the last tile's.
    if (named_barrier_or<kBf16ConsumerBarrier, kBf16Consumers>(exact)) {
      exact_recompute_tile<BN>(pipeline.spare(), op, [&](int r) { return grouped_token_row(p, work, r); },
                               [&](int m, int n, float v) {
                                 if (work.t0 + n >= work.count || m >= cols) return;
                                 out[static_cast<long long>(work.row_begin + work.t0 + n) * p.ldo + work.w0 + m] =
                                     Out::from_float(bias ? v + Out::to_float(bias[m]) : v);
                               });
    } else {
      store_tile_staged<BN, Out>(pipeline.spare(), acc, cols, bias, [&](int r) {
        return work.t0 + r < work.count ? out + static_cast<long long>(work.row_begin + work.t0 + r) * p.ldo + work.w0
                                        : nullptr;
      });
    }
    __syncwarp();
    if (threadIdx.x % 32 == 0) mbarrier_arrive(&slot.done);
  }
}

}  // namespace mxjit
