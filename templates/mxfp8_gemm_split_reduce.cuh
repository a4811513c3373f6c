// Split-K's second launch: out[m, n] = sum over splits z, in order, of partials[z, m, n] (+ bias[n]),
// one output element per thread over the whole GPU. Summing in the GEMM's last CTA per tile instead
// left a few SMs reading every split with little memory-level parallelism (60-130 us on H100 for sums
// a full-GPU pass reads in a few us).
#pragma once

#include "mxfp8_gemm_common.cuh"

namespace mxjit {

// p.m and p.n are the caller's M and N here (not the GEMM kernel's, which may be swapped).
template <class Out>
__global__ void __launch_bounds__(256) mxfp8_gemm_split_reduce_kernel(const GemmParams p) {
  const long long total = static_cast<long long>(p.m) * p.n;
  const unsigned short* bias = static_cast<const unsigned short*>(p.bias);
  unsigned short* out = static_cast<unsigned short*>(p.out);
  for (long long i = blockIdx.x * 256ll + threadIdx.x; i < total; i += gridDim.x * 256ll) {
    float sum = 0.f;
#pragma unroll 4
    for (int z = 0; z < p.splits; ++z) sum += __ldcg(p.partials + z * total + i);
    const long long m = i / p.n, n = i % p.n;
    out[m * p.ldo + n] = Out::from_float(bias ? sum + Out::to_float(bias[n]) : sum);
  }
}

}  // namespace mxjit
