// tma_decode's second launch (templates/mxfp8_gemm_decode_tma.cuh), when some row tile was shared by
// several CTAs of the persistent walk.
#pragma once

#include "mxfp8_gemm_decode_tma.cuh"

namespace mxjit {

// One CTA per boundary between the walk's CTA shares (block b: the start of CTA b + 1).
template <int Rows, int Tokens, class Out>
__global__ void __launch_bounds__(kDecodeReduceThreads) mxfp8_gemm_decode_reduce_kernel(const GemmParams p) {
  start_in_stream_order();  // launched early (launch_decode_boundaries): the walk's partials land first
  decode_reduce_boundary<Rows, Tokens>(p.decode, p.partials, blockIdx.x + 1, DenseDecodeWalk<Rows, Tokens, Out>{p, nullptr});
}

}  // namespace mxjit
