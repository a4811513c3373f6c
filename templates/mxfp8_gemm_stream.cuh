// MXFP8 decode GEMMs (at most 16 tokens): the weight streams from global memory straight into mma.sync
// fragments, with no shared-memory staging and no block-wide barrier in the main loop.
//
// The trick: a dot product does not care in which order its K terms are summed, as long as both operands
// use the same order. Inside each 32-element scale block, thread t of a quad loads the 8 contiguous bytes
// [8t, 8t + 8) of its row and uses them as the m16n8k32 fragment's K elements {4t..4t+3, 16+4t..16+4t+3};
// the activations are loaded the same way, so the mma sums exactly the products of the block, and one
// power-of-two factor, sa[row] * sb[token], promotes the partial (exact, as in mxfp8_gemm_mma.cuh).
//
// A CTA of Warps warps holds Warps / KSplit workers; a worker takes 16 weight rows at a time with KSplit
// warps that walk disjoint K ranges and add their partials in a fixed order (deterministic).
// Loads are issued Groups * 4 scale blocks ahead of the mmas that consume them. The dense kernel
// launches one CTA per work tile (on H100, 15% faster than persistent CTAs at 28672x4096); the grouped
// one is persistent, as its work list lives on the device. (Prefetching the next groups into a second
// register set doubled the registers to 213 and halved the CTAs per SM: not taken.)
#pragma once

#include "grid_dependency.cuh"
#include "mxfp8_gemm_mma.cuh"
#include "mxfp8_grouped_gemm_params.cuh"

namespace mxjit {

__device__ __forceinline__ uint2 load_streaming_8(const unsigned char* p) {
  uint2 v;
  asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
  return v;
}
__device__ __forceinline__ uint2 load_cached_8(const unsigned char* p) {
  uint2 v;
  asm volatile("ld.global.nc.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
  return v;
}

// The 4 scale bytes of K blocks [4 * group, 4 * group + 4) of a row, bytes past the last block as 0.
__device__ __forceinline__ unsigned int load_scale_word(const unsigned char* row, int group, int blocks) {
  const int first = group * 4;
  if (first + 4 <= blocks) return __ldg(reinterpret_cast<const unsigned int*>(row + first));
  unsigned int w = 0;
  for (int b = 0; b < 4 && first + b < blocks; ++b) w |= static_cast<unsigned int>(row[first + b]) << (8 * b);
  return w;
}

// One operand as the streaming loop reads it: rows of K e4m3 bytes and their e8m0 scale rows.
struct StreamOperand {
  const unsigned char* data;
  const unsigned char* scales;
  long long ld;
  int ld_s;
};

// The work split of a CTA: which 16-row group ("worker") and which K part this warp takes. A worker's
// K_split warps meet only at their own named barrier, never at a CTA-wide one.
template <int Warps>
struct StreamSplit {
  int k_split, row_group, k_part;
  __device__ __forceinline__ explicit StreamSplit(int splits)
      : k_split(splits), row_group(threadIdx.x / 32 / splits), k_part(threadIdx.x / 32 % splits) {}
  __device__ __forceinline__ int workers_per_cta() const { return Warps / k_split; }
  __device__ __forceinline__ int worker() const { return blockIdx.x * workers_per_cta() + row_group; }
  __device__ __forceinline__ int workers() const { return gridDim.x * workers_per_cta(); }
  __device__ __forceinline__ void sync() const {  // the worker's warps only (barrier 0 is __syncthreads)
    asm volatile("bar.sync %0, %1;" ::"r"(1 + row_group), "r"(k_split * 32) : "memory");
  }
};

// acc += this warp's K part of w[w_rows] . x[token_rows]^T. w_row(h) is the source row of weight row
// g + 8h of the group (-1: zeros); token_row(i) that of token i < Tokens (-1: none).
template <int Tokens, int Groups, class WeightRow, class TokenRow>
__device__ __forceinline__ void stream_accumulate(float (&acc)[Tokens / 8][4], const StreamOperand& w,
                                                  const StreamOperand& x, const WeightRow& w_row,
                                                  const TokenRow& token_row, int k, int group_begin, int group_end) {
  constexpr int NT = Tokens / 8;  // n8 token tiles
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int blocks = k / 32;
  bool w_in[2];
  const unsigned char* wp[2];
  const unsigned char* ws[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = w_row(h);
    w_in[h] = r >= 0;
    wp[h] = w.data + (w_in[h] ? r : 0) * w.ld + 8 * t;
    ws[h] = w.scales + (w_in[h] ? r : 0) * static_cast<long long>(w.ld_s);
  }
  bool x_in[NT], s_in[NT][2];
  const unsigned char* xp[NT];
  const unsigned char* xs[NT][2];
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    const int r = token_row(8 * j + g);
    x_in[j] = r >= 0;
    xp[j] = x.data + (x_in[j] ? r : 0) * x.ld + 8 * t;
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int rs = token_row(8 * j + 2 * t + c);
      s_in[j][c] = rs >= 0;
      xs[j][c] = x.scales + (s_in[j][c] ? rs : 0) * static_cast<long long>(x.ld_s);
    }
  }

  const uint2 zero = make_uint2(0u, 0u);
  for (int group0 = group_begin; group0 < group_end; group0 += Groups) {
    uint2 wf[Groups][4][2], xf[Groups][4][NT];
    unsigned int wsc[Groups][2], xsc[Groups][NT][2];
#pragma unroll
    for (int u = 0; u < Groups; ++u) {
      const int group = group0 + u;
      const bool in = group < group_end;
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        const int block = group * 4 + b;
        const bool k_in = in && block < blocks;
#pragma unroll
        for (int h = 0; h < 2; ++h) wf[u][b][h] = k_in && w_in[h] ? load_streaming_8(wp[h] + block * 32) : zero;
#pragma unroll
        for (int j = 0; j < NT; ++j) xf[u][b][j] = k_in && x_in[j] ? load_cached_8(xp[j] + block * 32) : zero;
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) wsc[u][h] = in && w_in[h] ? load_scale_word(ws[h], group, blocks) : 0u;
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int c = 0; c < 2; ++c) xsc[u][j][c] = in && s_in[j][c] ? load_scale_word(xs[j][c], group, blocks) : 0u;
    }
#pragma unroll
    for (int u = 0; u < Groups; ++u)
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        // a0/a2: row g, a1/a3: row g + 8; each 8-byte load gives the low and high K halves of the fragment.
        const unsigned int a[4] = {wf[u][b][0].x, wf[u][b][1].x, wf[u][b][0].y, wf[u][b][1].y};
        const float sw0 = e8m0_to_float((wsc[u][0] >> (8 * b)) & 0xFFu);
        const float sw1 = e8m0_to_float((wsc[u][1] >> (8 * b)) & 0xFFu);
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const unsigned int bf[2] = {xf[u][b][j].x, xf[u][b][j].y};
          float d[4];
          mma_e4m3_16x8x32(d, a, bf);
          const float sx0 = e8m0_to_float((xsc[u][j][0] >> (8 * b)) & 0xFFu);
          const float sx1 = e8m0_to_float((xsc[u][j][1] >> (8 * b)) & 0xFFu);
          // Blocks past K and masked rows or tokens hold zeros and scale bytes 0: their products are 0.
          // A NaN scale byte (255) of real data makes the result NaN, as it must.
          acc[j][0] = fmaf(d[0], sw0 * sx0, acc[j][0]);
          acc[j][1] = fmaf(d[1], sw0 * sx1, acc[j][1]);
          acc[j][2] = fmaf(d[2], sw1 * sx0, acc[j][2]);
          acc[j][3] = fmaf(d[3], sw1 * sx1, acc[j][3]);
        }
      }
  }
}

// Sums the K parts of the worker's 16-row group in part order and hands every finished element to
// store(row in the group (0..15), token (0..Tokens-1), value) on the part-0 warp. All warps of the worker
// call it; without a K split the accumulators go straight to store(). CtaWide: the whole CTA calls it
// together (one tile per CTA) and meets at __syncthreads, which keeps named barriers, and the 16 barriers
// ptxas then reserves, out of kernels that do not need them.
template <int Tokens, int Warps, bool CtaWide, class Store>
__device__ __forceinline__ void stream_reduce(const float (&acc)[Tokens / 8][4], const StreamSplit<Warps>& split,
                                              float (*partial)[Tokens / 8][4][32], Store&& store) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  if (split.k_split == 1) {
#pragma unroll
    for (int j = 0; j < Tokens / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) store(g + 8 * (e / 2), 8 * j + 2 * t + e % 2, acc[j][e]);
    return;
  }
#pragma unroll
  for (int j = 0; j < Tokens / 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) partial[warp][j][e][lane] = acc[j][e];
  if (CtaWide) __syncthreads();
  else split.sync();
  if (split.k_part == 0) {
#pragma unroll
    for (int j = 0; j < Tokens / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float v = 0.f;
        for (int part = 0; part < split.k_split; ++part) v += partial[warp + part][j][e][lane];
        store(g + 8 * (e / 2), 8 * j + 2 * t + e % 2, v);
      }
  }
  if (CtaWide) __syncthreads();  // partial is free for the next tile
  else split.sync();
}

// The K groups (of 4 scale blocks) of K part `part` of `parts`.
__device__ __forceinline__ void stream_k_range(int k, int part, int parts, int& begin, int& end) {
  const int groups = (k / 32 + 3) / 4, per_part = (groups + parts - 1) / parts;
  begin = min(part * per_part, groups);
  end = min(begin + per_part, groups);
}

// Dense decode GEMM. Kernel coordinates as the SwapAB GEMMs: p.a / p.m is the weight [N, K], p.b / p.n
// the tokens [M, K]; out stays [M, N]. p.splits carries KSplit.
template <int Tokens, int Warps, int Groups, class Out>
__global__ void __launch_bounds__(Warps * 32) mxfp8_gemm_stream_kernel(const GemmParams p) {
  start_in_stream_order();  // launched early after the tokens' quantize (LaunchConfig::early_start)
  __shared__ float partial[Warps][Tokens / 8][4][32];
  const StreamSplit<Warps> split(p.splits);
  int group_begin, group_end;
  stream_k_range(p.k, split.k_part, split.k_split, group_begin, group_end);
  const StreamOperand w{p.a, p.a_scales, p.lda, p.lda_s}, x{p.b, p.b_scales, p.ldb, p.ldb_s};
  const auto token_row = [&](int i) { return i < p.n ? i : -1; };
  const int tiles = (p.m + 15) / 16;  // 16-row groups
  unsigned short* out = static_cast<unsigned short*>(p.out);
  const unsigned short* bias = static_cast<const unsigned short*>(p.bias);

  // Every warp of the CTA runs the same number of iterations (the reduce meets at __syncthreads); row
  // groups past the end are masked.
  for (int first = blockIdx.x * split.workers_per_cta(); first < tiles; first += split.workers()) {
    const int row0 = (first + split.row_group) * 16;
    const int g = threadIdx.x % 32 / 4;
    float acc[Tokens / 8][4] = {};
    stream_accumulate<Tokens, Groups>(acc, w, x, [&](int h) { return row0 + g + 8 * h < p.m ? row0 + g + 8 * h : -1; },
                                      token_row, p.k, group_begin, group_end);
    stream_reduce<Tokens, Warps, true>(acc, split, partial, [&](int r, int token, float v) {
      const int row = row0 + r;
      if (row >= p.m || token >= p.n) return;
      if (bias) v += Out::to_float(bias[row]);
      out[static_cast<long long>(token) * p.ldo + row] = Out::from_float(v);
    });
  }
}

}  // namespace mxjit
