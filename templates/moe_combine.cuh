// MoE combine: out[t] = sum_j w[t, j] * y[pair_row[t, j]] in fp32, slot by slot, cast to the output type.
//
// A thread owns 8 consecutive hidden elements (one 16-byte vector) of a token; CTAs tile the hidden
// dimension along x and step over tokens along y. Slots go in groups of 8: their row indices and
// weights first, then their 8 row loads all in flight, then the fused multiply-adds in slot order
// (acc = fma(w, y, acc) from +0, what reference::moe_combine repeats), so the sum is deterministic
// and bit-exact. Rows outside y (dropped pairs: -1) are skipped, never read.
#pragma once

#include "grid_dependency.cuh"
#include "moe_aux_params.cuh"
#include "mxfp8_numerics.cuh"

namespace mxjit {

constexpr int kCombineThreads = 128;
constexpr int kCombineSlotGroup = 8;

__device__ __forceinline__ uint4 load_vector(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}

template <class Out>
__global__ void __launch_bounds__(kCombineThreads) moe_combine_kernel(const MoeCombineParams p) {
  start_in_stream_order();
  const unsigned int vec = blockIdx.x * kCombineThreads + threadIdx.x;
  if (vec >= p.vectors_per_row) return;
  const unsigned short* y = static_cast<const unsigned short*>(p.y) + vec * 8u;
  for (unsigned int t = blockIdx.y; t < p.tokens; t += gridDim.y) {
    float acc[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[i] = 0.0f;
    const unsigned long long slot0 = static_cast<unsigned long long>(t) * p.top_k;
    for (unsigned int j0 = 0; j0 < p.top_k; j0 += kCombineSlotGroup) {
      int row[kCombineSlotGroup];
      float w[kCombineSlotGroup];
      uint4 v[kCombineSlotGroup];
#pragma unroll
      for (int s = 0; s < kCombineSlotGroup; ++s) {
        const bool slot = j0 + s < p.top_k;
        row[s] = slot ? __ldg(p.pair_row + slot0 + j0 + s) : -1;
        w[s] = slot ? __ldg(p.weights + slot0 + j0 + s) : 0.0f;
      }
#pragma unroll
      for (int s = 0; s < kCombineSlotGroup; ++s)
        v[s] = static_cast<unsigned int>(row[s]) < p.y_rows ? load_vector(y + row[s] * p.y_row_stride)
                                                            : make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int s = 0; s < kCombineSlotGroup; ++s) {
        if (static_cast<unsigned int>(row[s]) >= p.y_rows) continue;
        const unsigned int e[4] = {v[s].x, v[s].y, v[s].z, v[s].w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          acc[2 * i] = __fmaf_rn(w[s], Out::to_float(e[i] & 0xFFFFu), acc[2 * i]);
          acc[2 * i + 1] = __fmaf_rn(w[s], Out::to_float(e[i] >> 16), acc[2 * i + 1]);
        }
      }
    }
    unsigned int words[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      words[i] = Out::from_float(acc[2 * i]) | static_cast<unsigned int>(Out::from_float(acc[2 * i + 1])) << 16;
    *reinterpret_cast<uint4*>(static_cast<unsigned short*>(p.out) + t * p.out_row_stride + vec * 8u) =
        make_uint4(words[0], words[1], words[2], words[3]);
  }
}

}  // namespace mxjit
