// MoE activation: a = silu(gate) * up, MXFP8-quantized per 32 elements, in one pass.
//
// Numerics follow vLLM's silu_and_mul: silu(x) = x / (1 + exp(-x)) in fp32, rounded to the input
// type, times `up` rounded to the input type again (its `(T)silu(x) * y`). The quantization is
// quantize_mxfp8's own code (mxfp8_quantize.cuh) applied to those 16-bit values. exp is a fixed
// sequence of correctly rounded fp32 operations (no hardware approximation, no contraction), so the
// CPU reference can repeat it operation by operation and every output byte is checked exactly.
//
// Work split as quantize_mxfp8's linear layout: a quad owns a 32-element block, 8 elements a lane;
// each lane loads 16 bytes of gate and 16 bytes of up per block, `Unroll` blocks in flight.
#pragma once

#include "grid_dependency.cuh"
#include "moe_aux_params.cuh"
#include "mxfp8_quantize.cuh"

namespace mxjit {

// exp(z) within ~1 ulp: z = n ln2 + r (Cody-Waite, two-part ln2), e^r by its degree-7 Taylor
// polynomial (|r| <= ln2/2: truncation < 2^-27), 2^n applied in two exact halves so that results in
// the subnormal range round once. Mirrored by reference::silu_exp.
// NaN gives 0 here (fmaxf drops it), which keeps the code branch-free: silu's x / (1 + e) is NaN anyway.
__device__ __forceinline__ float silu_exp(float z) {
  z = fminf(fmaxf(z, -104.0f), 89.0f);  // e^-104 rounds to 0, e^89 overflows: same results, small n
  const float n = rintf(__fmul_rn(z, 0x1.715476p+0f));  // round(z / ln2), in [-150, 128]
  float r = __fmaf_rn(-n, 0x1.62e4p-1f, z);               // ln2 high part (15 bits: n * it is exact)
  r = __fmaf_rn(-n, 0x1.7f7d1cp-20f, r);                  // ln2 low part
  float poly = 0x1.a01a02p-13f;                           // 1/7!, then Horner down to 1/0!
  poly = __fmaf_rn(poly, r, 0x1.6c16c2p-10f);
  poly = __fmaf_rn(poly, r, 0x1.111112p-7f);
  poly = __fmaf_rn(poly, r, 0x1.555556p-5f);
  poly = __fmaf_rn(poly, r, 0x1.555556p-3f);
  poly = __fmaf_rn(poly, r, 0.5f);
  poly = __fmaf_rn(poly, r, 1.0f);
  poly = __fmaf_rn(poly, r, 1.0f);
  const int k = static_cast<int>(n), k1 = k / 2, k2 = k - k1;  // 2^k1 and 2^k2 are normal floats
  return __fmul_rn(__fmul_rn(poly, __int_as_float((k1 + 127) << 23)), __int_as_float((k2 + 127) << 23));
}

// vLLM's silu_and_mul on one element pair, as 16-bit bits of type In.
template <class In>
__device__ __forceinline__ unsigned int silu_mul(unsigned int gate_bits, unsigned int up_bits) {
  const float x = In::to_float(gate_bits);
  const float silu = In::to_float(In::from_float(__fdiv_rn(x, __fadd_rn(1.0f, silu_exp(-x)))));
  return In::from_float(__fmul_rn(silu, In::to_float(up_bits)));
}

template <class In>
__device__ __forceinline__ uint4 silu_mul_lane(const uint4& gate, const uint4& up) {
  const unsigned int g[4] = {gate.x, gate.y, gate.z, gate.w}, u[4] = {up.x, up.y, up.z, up.w};
  unsigned int a[4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
    a[i] = silu_mul<In>(g[i] & 0xFFFFu, u[i] & 0xFFFFu) | silu_mul<In>(g[i] >> 16, u[i] >> 16) << 16;
  return make_uint4(a[0], a[1], a[2], a[3]);
}

template <class In, int Rule, int Unroll>
__global__ void __launch_bounds__(256) moe_silu_mul_quantize_kernel(const SiluMulQuantizeParams p) {
  start_in_stream_order();
  unsigned int rows = p.rows;
  if (p.row_count != nullptr) {
    const int in_use = *p.row_count;
    rows = in_use <= 0 ? 0u : min(rows, static_cast<unsigned int>(in_use));
  }
  const unsigned int blocks_per_row = p.blocks_per_row.divisor, inter = blocks_per_row * 32u;
  const unsigned long long blocks = static_cast<unsigned long long>(rows) * blocks_per_row;
  constexpr unsigned int group = 8u * Unroll;  // blocks per warp step
  const unsigned int lane = threadIdx.x & 31u, quad_lane = lane & 3u;
  const unsigned int warps_total = gridDim.x * (blockDim.x >> 5);
  const unsigned int warp = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  // Warp-uniform loop bounds: every lane reaches the shuffles, whatever its own block's validity.
  for (unsigned long long first = group * static_cast<unsigned long long>(warp); first < blocks;
       first += group * static_cast<unsigned long long>(warps_total)) {
    uint4 gate[Unroll], up[Unroll];
    unsigned int blk[Unroll], scale_at[Unroll];
#pragma unroll
    for (int u = 0; u < Unroll; ++u) {
      const unsigned long long b = first + 8ull * u + (lane >> 2);
      blk[u] = b < blocks ? static_cast<unsigned int>(b) : 0xFFFFFFFFu;
      gate[u] = up[u] = make_uint4(0, 0, 0, 0);
      if (blk[u] != 0xFFFFFFFFu) {
        const unsigned int row = fast_div(blk[u], p.blocks_per_row), col_block = blk[u] - row * blocks_per_row;
        const unsigned short* g =
            static_cast<const unsigned short*>(p.h) + row * p.h_row_stride + col_block * 32u + quad_lane * 8u;
        gate[u] = load_streaming(g);
        up[u] = load_streaming(g + inter);
        scale_at[u] = row * p.scale_row_stride + col_block;
      }
    }
#pragma unroll
    for (int u = 0; u < Unroll; ++u) {
      const uint4 a = silu_mul_lane<In>(gate[u], up[u]);  // zeros in, zeros out for absent blocks
      const unsigned int b = quad_scale_byte<In, Rule>(a);
      if (blk[u] == 0xFFFFFFFFu) continue;
      *reinterpret_cast<uint2*>(p.q + blk[u] * 32ull + quad_lane * 8u) = quantize_lane<In, Rule>(a, b);
      if (quad_lane == 0) p.scales[scale_at[u]] = static_cast<unsigned char>(b);
    }
  }
}

}  // namespace mxjit
