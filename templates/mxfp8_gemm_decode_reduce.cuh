// tma_decode's second launch (templates/mxfp8_gemm_decode_tma.cuh), when some row tile was shared by
// several CTAs of the persistent walk.
#pragma once

#include "mxfp8_gemm_decode_tma.cuh"

namespace mxjit {

// One CTA per boundary between the walk's CTA shares (block b: the start of CTA b + 1). A share that
// starts inside a row tile means the tile is shared; the first such boundary of the tile sums the
// partials of every CTA that walked it, in CTA order (deterministic), adds the bias and stores. Tiles
// walked whole by one CTA were stored by it. CTAs with no iterations (a grouped walk with less work than
// CTAs) have no partials and are skipped.
template <int Rows, int Tokens, class Out>
__global__ void __launch_bounds__(256) mxfp8_gemm_decode_reduce_kernel(const GemmParams p) {
  const DecodeWork& work = p.decode;
  const int c = blockIdx.x + 1;
  const long long i = work.begin(c);
  if (i == work.begin(c + 1) || i % work.k_stages == 0) return;  // empty, or at a tile's start
  const long long tile = i / work.k_stages, first = tile * work.k_stages;
  const int c_first = work.cta_of(first), c_last = work.cta_of(first + work.k_stages - 1);
  if (work.cta_of(i - 1) != c_first) return;  // an earlier boundary of this tile sums it
  const unsigned short* bias = static_cast<const unsigned short*>(p.bias);
  unsigned short* out = static_cast<unsigned short*>(p.out);
  for (int e = threadIdx.x; e < Rows * Tokens; e += 256) {
    const int token = e / Rows, r = e % Rows, row = static_cast<int>(tile * Rows) + r;
    if (row >= p.m || token >= p.n) continue;
    float v = 0.f;
    for (int part = c_first; part <= c_last; ++part)
      if (work.begin(part) < work.begin(part + 1)) v += __ldcg(decode_partial<Rows, Tokens>(p, part, tile) + e);
    if (bias) v += Out::to_float(bias[row]);
    out[static_cast<long long>(token) * p.ldo + row] = Out::from_float(v);
  }
}

}  // namespace mxjit
