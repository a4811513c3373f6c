// The activation prepass of the bf16 wgmma GEMM (mxfp8_gemm_wgmma_bf16.cuh): an MXFP8 operand [rows, K]
// dequantized once into bf16 with its scales applied, in the order that GEMM's B tiles want, so that the
// GEMM spends no instruction on it (each row would otherwise be dequantized once per weight tile).
//
// Order: inside each 64-deep chunk of K, bf16 position 16 j + 2 t + e + 8 u (j, t in 0..3; e, u in 0..1)
// holds the element at chunk offset 16 t + 4 j + u + 2 e. The GEMM permutes its weights' K the same way
// (the scales are applied before the MMA, so any common order gives the same sum): one 32-bit word of 4
// e4m3 bytes then gives a thread's whole register fragment of one k16 step. Rows are ld_out elements
// long (K rounded up to 128), zero past K. Scale bytes in [10, 246] convert exactly (bf16_dequant.cuh's
// wide range: activations can be large); values of other blocks are not trusted: the row's `exact` byte
// is set and the GEMM recomputes every tile holding it exactly. For the grouped GEMM the rows are
// gathered here into its expert-sorted order, so that its tiles copy whole boxes of rows by TMA.
#pragma once

#include "grid_dependency.cuh"
#include "bf16_dequant.cuh"
#include "mxfp8_dequantize_bf16_params.cuh"

namespace mxjit {

// One CTA per output row; thread item i = (chunk i / 4, step j = i % 4) writes the 16 bf16 of step j.
__global__ void __launch_bounds__(256) mxfp8_dequantize_bf16_kernel(const DequantizeBf16Params p) {
  start_in_stream_order();
  const int row = blockIdx.x;
  if (p.rows_in_use && row >= *p.rows_in_use) return;
  const int src = p.gather ? p.gather[row] : row;
  const bool present = src >= 0 && src < p.q_rows;  // else a row of zeros
  const unsigned char* q = p.q + (present ? src : 0) * p.ld;
  const unsigned char* scales = p.scales + static_cast<long long>(present ? src : 0) * p.ld_s;
  unsigned short* out = p.out + row * p.ld_out;
  const int items = static_cast<int>(p.ld_out / 64) * 4;
  bool exact = false;
  for (int i = threadIdx.x; i < items; i += blockDim.x) {
    const int c = i / 4, j = i % 4;
    unsigned int low[4], high[4];
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const int byte = 64 * c + 16 * t + 4 * j;  // K is a multiple of 32: a word is wholly inside or past K
      const bool in = present && byte < p.k;
      const unsigned int w = in ? *reinterpret_cast<const unsigned int*>(q + byte) : 0u;
      const unsigned int b = in ? scales[byte / 32] : 0u;
      exact |= in && block_needs_exact_path<kBf16WideScaleMax>(b, w, e4m3_nan_bits(w));
      const unsigned int mult = bf16x2_scale_multiplier(b), wide = bf16x2_wide_scale_multiplier(b);
      low[t] = bf16x2_mul(bf16x2_mul(e4m3_bytes02_to_bf16x2(w), mult), wide);
      high[t] = bf16x2_mul(bf16x2_mul(e4m3_bytes13_to_bf16x2(w), mult), wide);
    }
    uint4* dst = reinterpret_cast<uint4*>(out + 64 * c + 16 * j);
    dst[0] = make_uint4(low[0], low[1], low[2], low[3]);
    dst[1] = make_uint4(high[0], high[1], high[2], high[3]);
  }
  exact = __syncthreads_or(exact);
  if (threadIdx.x == 0) p.exact[row] = exact ? 1 : 0;
}

}  // namespace mxjit
