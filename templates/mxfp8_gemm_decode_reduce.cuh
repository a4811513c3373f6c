// tma_decode's second launch (templates/mxfp8_gemm_decode_tma.cuh), when some row tile was shared by
// several CTAs of the persistent walk.
#pragma once

#include "mxfp8_gemm_decode_tma.cuh"

namespace mxjit {

// The second launch when some tile was shared: one CTA per row tile sums the partials of the CTAs that
// walked it, in CTA order, adds the bias and stores; tiles walked whole by one CTA were stored already.
template <int Rows, int Tokens, class Out>
__global__ void __launch_bounds__(256) mxfp8_gemm_decode_reduce_kernel(const GemmParams p) {
  const DecodeWork& work = p.decode;
  const long long tile = blockIdx.x, first = tile * work.k_stages;
  const int c_first = work.cta_of(first), c_last = work.cta_of(first + work.k_stages - 1);
  if (c_first == c_last) return;
  const unsigned short* bias = static_cast<const unsigned short*>(p.bias);
  unsigned short* out = static_cast<unsigned short*>(p.out);
  for (int i = threadIdx.x; i < Rows * Tokens; i += 256) {
    const int token = i / Rows, r = i % Rows, row = static_cast<int>(tile * Rows) + r;
    if (row >= p.m || token >= p.n) continue;
    float v = 0.f;
    for (int c = c_first; c <= c_last; ++c) v += __ldcg(decode_partial<Rows, Tokens>(p, c, tile) + i);
    if (bias) v += Out::to_float(bias[row]);
    out[static_cast<long long>(token) * p.ldo + row] = Out::from_float(v);
  }
}

}  // namespace mxjit
