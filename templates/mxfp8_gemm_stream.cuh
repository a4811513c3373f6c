// MXFP8 decode GEMM (at most 16 tokens): the weight streams from global memory straight into mma.sync
// fragments, with no shared-memory staging and no block-wide barrier in the main loop.
//
// The trick: a dot product does not care in which order its K terms are summed, as long as both operands
// use the same order. Inside each 32-element scale block, thread t of a quad loads the 8 contiguous bytes
// [8t, 8t + 8) of its row and uses them as the m16n8k32 fragment's K elements {4t..4t+3, 16+4t..16+4t+3};
// the activations are loaded the same way, so the mma sums exactly the products of the block, and one
// power-of-two factor, sa[row] * sb[token], promotes the partial (exact, as in mxfp8_gemm_mma.cuh).
//
// A CTA of Warps warps covers 16 * Warps / KSplit weight rows; each 16-row group is shared by KSplit warps
// that walk disjoint K ranges and add their partials in a fixed order at the end (deterministic). Loads
// are issued Groups * 4 scale blocks ahead of the mmas that consume them.
// Kernel coordinates as the SwapAB GEMMs: p.a / p.m is the weight [N, K], p.b / p.n the tokens [M, K];
// out stays [M, N]. p.splits carries KSplit.
#pragma once

#include "mxfp8_gemm_mma.cuh"

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

template <int Tokens, int Warps, int Groups, class Out>
__global__ void __launch_bounds__(Warps * 32) mxfp8_gemm_stream_kernel(const GemmParams p) {
  constexpr int NT = Tokens / 8;  // n8 token tiles
  static_assert(Tokens == 8 || Tokens == 16, "the decode GEMM holds 8 or 16 tokens");
  __shared__ float partial[Warps][NT][4][32];

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int k_split = p.splits, row_group = warp / k_split, k_part = warp % k_split;
  const int row0 = (blockIdx.x * (Warps / k_split) + row_group) * 16;
  const int blocks = p.k / 32, groups = (blocks + 3) / 4;
  const int per_part = (groups + k_split - 1) / k_split;
  const int group_begin = k_part * per_part, group_end = min(group_begin + per_part, groups);

  // This thread's two weight rows (g, g + 8) and its tokens: g (+8) for the B fragment, 2t and 2t + 1
  // (+8) for the accumulator columns. Rows past the end read row 0 and are masked to zero.
  const bool w_in[2] = {row0 + g < p.m, row0 + g + 8 < p.m};
  const unsigned char* w[2];
  const unsigned char* w_scales[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const long long r = w_in[h] ? row0 + g + 8 * h : 0;
    w[h] = p.a + r * p.lda + 8 * t;
    w_scales[h] = p.a_scales + r * p.lda_s;
  }
  bool x_in[NT], s_in[NT][2];
  const unsigned char* x[NT];
  const unsigned char* x_scales[NT][2];
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    x_in[j] = 8 * j + g < p.n;
    x[j] = p.b + static_cast<long long>(x_in[j] ? 8 * j + g : 0) * p.ldb + 8 * t;
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int token = 8 * j + 2 * t + c;
      s_in[j][c] = token < p.n;
      x_scales[j][c] = p.b_scales + static_cast<long long>(s_in[j][c] ? token : 0) * p.ldb_s;
    }
  }

  float acc[NT][4];
#pragma unroll
  for (int j = 0; j < NT; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

  const uint2 zero = make_uint2(0u, 0u);
  for (int group0 = group_begin; group0 < group_end; group0 += Groups) {
    uint2 wf[Groups][4][2], xf[Groups][4][NT];
    unsigned int ws[Groups][2], xs[Groups][NT][2];
#pragma unroll
    for (int u = 0; u < Groups; ++u) {
      const int group = group0 + u;
      const bool in = group < group_end;
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        const int block = group * 4 + b;
        const bool k_in = in && block < blocks;
#pragma unroll
        for (int h = 0; h < 2; ++h) wf[u][b][h] = k_in && w_in[h] ? load_streaming_8(w[h] + block * 32) : zero;
#pragma unroll
        for (int j = 0; j < NT; ++j) xf[u][b][j] = k_in && x_in[j] ? load_cached_8(x[j] + block * 32) : zero;
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) ws[u][h] = in && w_in[h] ? load_scale_word(w_scales[h], group, blocks) : 0u;
#pragma unroll
      for (int j = 0; j < NT; ++j)
#pragma unroll
        for (int c = 0; c < 2; ++c) xs[u][j][c] = in && s_in[j][c] ? load_scale_word(x_scales[j][c], group, blocks) : 0u;
    }
#pragma unroll
    for (int u = 0; u < Groups; ++u)
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        // a0/a2: row g, a1/a3: row g + 8; each 8-byte load gives the low and high K halves of the fragment.
        const unsigned int a[4] = {wf[u][b][0].x, wf[u][b][1].x, wf[u][b][0].y, wf[u][b][1].y};
        const float sw0 = e8m0_to_float((ws[u][0] >> (8 * b)) & 0xFFu);
        const float sw1 = e8m0_to_float((ws[u][1] >> (8 * b)) & 0xFFu);
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const unsigned int bf[2] = {xf[u][b][j].x, xf[u][b][j].y};
          float d[4];
          mma_e4m3_16x8x32(d, a, bf);
          const float sx0 = e8m0_to_float((xs[u][j][0] >> (8 * b)) & 0xFFu);
          const float sx1 = e8m0_to_float((xs[u][j][1] >> (8 * b)) & 0xFFu);
          // Blocks past K (and masked rows/tokens) hold zeros: their products are 0 whatever the scale,
          // except a NaN scale byte (255) of real data, which must make the result NaN and does.
          acc[j][0] = fmaf(d[0], sw0 * sx0, acc[j][0]);
          acc[j][1] = fmaf(d[1], sw0 * sx1, acc[j][1]);
          acc[j][2] = fmaf(d[2], sw1 * sx0, acc[j][2]);
          acc[j][3] = fmaf(d[3], sw1 * sx1, acc[j][3]);
        }
      }
  }

  // The K parts of each row group add up in part order.
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) partial[warp][j][e][lane] = acc[j][e];
  __syncthreads();
  if (k_part != 0) return;
  unsigned short* out = static_cast<unsigned short*>(p.out);
  const unsigned short* bias = static_cast<const unsigned short*>(p.bias);
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      float v = 0.f;
      for (int part = 0; part < k_split; ++part) v += partial[warp + part][j][e][lane];
      const int row = row0 + g + 8 * (e / 2), token = 8 * j + 2 * t + e % 2;
      if (row >= p.m || token >= p.n) continue;
      if (bias) v += Out::to_float(bias[row]);
      out[static_cast<long long>(token) * p.ldo + row] = Out::from_float(v);
    }
}

}  // namespace mxjit
