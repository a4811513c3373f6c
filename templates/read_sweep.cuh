// Reads a buffer once with 16-byte loads. Benchmarks run it before each timed launch: it evicts whatever
// the L2 held (writing back dirty lines outside the timed region) and leaves only clean lines, so every
// timed run starts from the same cold, clean cache.
#pragma once

namespace mxjit {

__global__ void __launch_bounds__(256) read_sweep_kernel(const uint4* data, unsigned long long count, unsigned int* sink) {
  unsigned int acc = 0;
  for (unsigned long long i = blockIdx.x * 256ull + threadIdx.x; i < count; i += gridDim.x * 256ull) {
    const uint4 v = data[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9E3779B9u) *sink = acc;  // keeps the loads alive; practically never taken
}

}  // namespace mxjit
