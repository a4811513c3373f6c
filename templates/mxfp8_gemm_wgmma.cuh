// MXFP8 x MXFP8 -> bf16/fp16 GEMM on Hopper's fp8 tensor cores (wgmma, sm_90a).
//
// One warpgroup per 64 rows of the CTA tile. Every 32-deep K step is one scale block and one
// m64nNk32 wgmma into fresh fp32 registers; the partial is promoted into the accumulator with the
// power-of-two product sa[m] * sb[n] (exact). Operands stage through shared memory with cp.async,
// Stages deep, in wgmma's no-swizzle layout: 8-row x 16-byte core matrices stored contiguously, the 8
// core matrices of a row group's 128 K bytes side by side. SwapAB (decode) puts the weight on the
// 64-row side and the few tokens on the N side. Epilogue, split-K: mxfp8_gemm_common.cuh.
#pragma once

#include "mxfp8_gemm_common.cuh"
#include "wgmma_e4m3.cuh"

namespace mxjit {

template <int BM, int BN>
struct __align__(128) WgmmaStage {
  unsigned char a[BM * kGemmBK];  // core-matrix layout, see the file comment
  unsigned char b[BN * kGemmBK];
  unsigned int a_scales[BM];
  unsigned int b_scales[BN];
};

// Byte offset of (row r, 16-byte K chunk kc) in the core-matrix layout of a 128-byte-deep tile.
__device__ __forceinline__ int core_matrix_offset(int r, int kc) { return ((r >> 3) * 8 + kc) * 128 + (r & 7) * 16; }

template <int Rows, int Threads>
__device__ __forceinline__ void load_operand_core(unsigned char* dst, unsigned int* dst_scales, const unsigned char* src,
                                                  const unsigned char* src_scales, long long ld, int ld_s, int rows,
                                                  int k, int row0, int k0) {
  // Thread i takes row (i % 8) of a core matrix, so 8 threads fill 128 contiguous shared-memory bytes.
#pragma unroll
  for (int c = threadIdx.x; c < Rows * 8; c += Threads) {
    const int r = (c / 64) * 8 + c % 8, kc = (c / 8) % 8;
    const bool in = row0 + r < rows && k0 + kc * 16 < k;
    cp_async<16>(dst + core_matrix_offset(r, kc), in ? src + (row0 + r) * ld + k0 + kc * 16 : src, in ? 16 : 0);
  }
  load_scales<Rows, Threads>(dst_scales, src_scales, ld_s, k, k0, RowRange{row0, rows});
}

template <int BM, int BN, int Stages, class Out, bool SwapAB>
__global__ void __launch_bounds__(BM / 64 * 128, 1) mxfp8_gemm_wgmma_kernel(const GemmParams p) {
  constexpr int Threads = BM / 64 * 128;
  constexpr int Regs = BN / 2;  // accumulator registers per thread for m64nBN
  extern __shared__ __align__(128) unsigned char smem_raw[];
  auto* stages = reinterpret_cast<WgmmaStage<BM, BN>*>(smem_raw);

  const int wg = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
  const int row_in_tile = wg * 64 + warp * 16 + lane / 4;  // this thread's rows: +0 and +8
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int k_tiles_total = (p.k + kGemmBK - 1) / kGemmBK;
  const int kt_begin = blockIdx.z * p.k_tiles_per_split;
  const int kt_count = min(p.k_tiles_per_split, k_tiles_total - kt_begin);

  float acc[Regs], part[Regs];
#pragma unroll
  for (int i = 0; i < Regs; ++i) acc[i] = part[i] = 0.f;

  auto load_stage = [&](int slot, int kt) {
    WgmmaStage<BM, BN>& s = stages[slot];
    const int k0 = (kt_begin + kt) * kGemmBK;
    load_operand_core<BM, Threads>(s.a, s.a_scales, p.a, p.a_scales, p.lda, p.lda_s, p.m, p.k, m0, k0);
    load_operand_core<BN, Threads>(s.b, s.b_scales, p.b, p.b_scales, p.ldb, p.ldb_s, p.n, p.k, n0, k0);
  };

  // cp.async writes are generic-proxy writes; the tensor cores read through the async proxy.
  gemm_mainloop<Stages>(kt_count, load_stage, fence_proxy_async_shared, [&](int slot) {
    const WgmmaStage<BM, BN>& s = stages[slot];
    const unsigned int sa_words[2] = {s.a_scales[row_in_tile], s.a_scales[row_in_tile + 8]};
#pragma unroll
    for (int kb = 0; kb < kGemmBK / 32; ++kb) {
      // 32 K bytes = 2 core matrices along K (128 bytes apart); row groups of 8 are 1024 bytes apart.
      const unsigned long long da = wgmma_descriptor(s.a + wg * 64 * kGemmBK + kb * 256, 128, 1024);
      const unsigned long long db = wgmma_descriptor(s.b + kb * 256, 128, 1024);
      wgmma_fence();
      Wgmma<BN>::run(part, da, db, 0);
      wgmma_commit();
      wgmma_wait<0>();
      const float sa[2] = {e8m0_to_float((sa_words[0] >> (8 * kb)) & 0xFFu),
                           e8m0_to_float((sa_words[1] >> (8 * kb)) & 0xFFu)};
#pragma unroll
      for (int c = 0; c < BN / 8; ++c) {
        // Registers 4c..4c+3: rows (+0, +0, +8, +8), columns 8c + 2 (lane % 4) + (0, 1, 0, 1).
        const int col = c * 8 + 2 * (lane % 4);
        const float sb0 = e8m0_to_float((s.b_scales[col] >> (8 * kb)) & 0xFFu);
        const float sb1 = e8m0_to_float((s.b_scales[col + 1] >> (8 * kb)) & 0xFFu);
        acc[4 * c + 0] = fmaf(part[4 * c + 0], sa[0] * sb0, acc[4 * c + 0]);
        acc[4 * c + 1] = fmaf(part[4 * c + 1], sa[0] * sb1, acc[4 * c + 1]);
        acc[4 * c + 2] = fmaf(part[4 * c + 2], sa[1] * sb0, acc[4 * c + 2]);
        acc[4 * c + 3] = fmaf(part[4 * c + 3], sa[1] * sb1, acc[4 * c + 3]);
      }
    }
  });

  gemm_epilogue<Out, SwapAB>(p, [&](auto&& f) {
#pragma unroll
    for (int i = 0; i < Regs; ++i)
      f(m0 + row_in_tile + 8 * ((i % 4) / 2), n0 + 8 * (i / 4) + 2 * (lane % 4) + i % 2, acc[i]);
  });
}

}  // namespace mxjit
