// MXFP8 quantize: bf16/fp16 [B, R, K] -> e4m3 [B, R, K] + e8m0 scales, one launch for every batch.
//
// Work split: 4 consecutive lanes (a quad) own one 32-element block, 8 elements (16 bytes) per lane,
// so a warp reads 512 contiguous bytes when rows are contiguous and every access is 16 bytes wide.
// The block amax is a max over 16-bit magnitudes (an unsigned max orders them, NaN above Inf) plus
// two quad shuffles. Each thread keeps `Unroll` independent 16-byte loads in flight.
#pragma once

#include "mxfp8_numerics.cuh"
#include "mxfp8_quantize_params.cuh"

namespace mxjit {

enum ScaleLayoutId { kLayoutLinear = 0, kLayoutSwizzled128x4 = 1 };

__device__ __forceinline__ unsigned int fast_div(unsigned int n, const FastDivisor& d) {
  return static_cast<unsigned int>((static_cast<unsigned long long>(__umulhi(n, d.multiplier)) + n) >> d.shift);
}

// Byte offset of scale (r, c) in one batch's 128x4-swizzled scale matrix (design.md 3).
__device__ __forceinline__ unsigned int swizzled_offset(unsigned int r, unsigned int c, unsigned int padded_cols) {
  return (r >> 7) * (padded_cols >> 2) * 512u + (c >> 2) * 512u + (r & 31u) * 16u + ((r & 127u) >> 5) * 4u + (c & 3u);
}

__device__ __forceinline__ uint4 load_streaming(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Largest 16-bit magnitude among the 8 elements of a lane.
__device__ __forceinline__ unsigned int lane_amax_bits(const uint4& v) {
  const unsigned int m = __vmaxu2(__vmaxu2(v.x & 0x7FFF7FFFu, v.y & 0x7FFF7FFFu),
                                  __vmaxu2(v.z & 0x7FFF7FFFu, v.w & 0x7FFF7FFFu));
  return max(m & 0xFFFFu, m >> 16);
}

// Quantizes one lane's 8 elements with the block's scale byte `b`; returns 8 e4m3 bytes.
template <class In, int Rule>
__device__ __forceinline__ uint2 quantize_lane(const uint4& v, unsigned int b) {
  if (b == 255u) return make_uint2(0x7F7F7F7Fu, 0x7F7F7F7Fu);  // NaN block: NaN scale, NaN bytes
  const float k = inverse_scale<Rule>(b);
  const unsigned int w[4] = {v.x, v.y, v.z, v.w};
  unsigned int out[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const unsigned int a = w[2 * i], c = w[2 * i + 1];
    const unsigned int lo = pack_e4m3x2(In::to_float(a & 0xFFFFu) * k, In::to_float(a >> 16) * k);
    const unsigned int hi = pack_e4m3x2(In::to_float(c & 0xFFFFu) * k, In::to_float(c >> 16) * k);
    out[i] = lo | (hi << 16);
  }
  return make_uint2(out[0], out[1]);
}

template <class In, int Rule>
__device__ __forceinline__ unsigned int block_scale_byte(unsigned int amax16) {
  if (amax16 > In::inf_bits) return 255u;  // NaN anywhere in the block
  if (amax16 == In::inf_bits) return 254u;  // +-Inf: largest scale, elements saturate
  return scale_exponent<Rule>(__float_as_uint(In::to_float(amax16)));
}

template <class In, int Layout, int Rule, int Unroll>
__global__ void __launch_bounds__(256) mxfp8_quantize_kernel(const QuantizeParams p) {
  const unsigned int lane = threadIdx.x & 31u, quad_lane = lane & 3u;
  const unsigned int warps_total = gridDim.x * (blockDim.x >> 5);
  const unsigned int warp = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  // Warp-uniform loop bounds: every lane reaches the shuffles, whatever its own block's validity.
  for (unsigned long long first = 8ull * warp; first < p.total_blocks; first += 8ull * warps_total * Unroll) {
    uint4 v[Unroll];
    unsigned int blk[Unroll], scale_at[Unroll];
#pragma unroll
    for (int u = 0; u < Unroll; ++u) {
      const unsigned long long b = first + 8ull * warps_total * u + (lane >> 2);
      blk[u] = b < p.total_blocks ? static_cast<unsigned int>(b) : 0xFFFFFFFFu;
      v[u] = make_uint4(0, 0, 0, 0);
      if (blk[u] != 0xFFFFFFFFu) {
        const unsigned int row = fast_div(blk[u], p.blocks_per_row);
        const unsigned int col_block = blk[u] - row * p.blocks_per_row.divisor;
        const unsigned int batch = fast_div(row, p.rows_per_batch);
        const unsigned int r = row - batch * p.rows;
        const long long offset = batch * p.in_batch_stride + r * p.in_row_stride + col_block * 32ll + quad_lane * 8;
        v[u] = load_streaming(static_cast<const unsigned short*>(p.input) + offset);
        scale_at[u] = Layout == kLayoutLinear
                          ? blk[u]
                          : batch * p.batch_scale_bytes + swizzled_offset(r, col_block, p.padded_cols);
      }
    }
#pragma unroll
    for (int u = 0; u < Unroll; ++u) {
      unsigned int amax = lane_amax_bits(v[u]);
      amax = max(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 1));
      amax = max(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 2));
      if (blk[u] == 0xFFFFFFFFu) continue;
      const unsigned int b = block_scale_byte<In, Rule>(amax);
      *reinterpret_cast<uint2*>(p.q + blk[u] * 32ull + quad_lane * 8) = quantize_lane<In, Rule>(v[u], b);
      if (quad_lane == 0) p.scales[scale_at[u]] = static_cast<unsigned char>(b);
    }
  }
  if (Layout == kLayoutSwizzled128x4) {
    // Zero the padding of each batch's swizzled matrix: columns [K/32, Sp) of real rows, then whole
    // padding rows [R, Rp).
    const unsigned int cols = p.blocks_per_row.divisor, extra_cols = p.padded_cols - cols;
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < p.total_pad; i += gridDim.x * blockDim.x) {
      const unsigned int batch = i / p.pad_per_batch, j = i - batch * p.pad_per_batch;
      unsigned int r, c;
      if (j < p.rows * extra_cols) {
        r = j / extra_cols;
        c = cols + (j - r * extra_cols);
      } else {
        const unsigned int k = j - p.rows * extra_cols;
        r = p.rows + k / p.padded_cols;
        c = k - (r - p.rows) * p.padded_cols;
      }
      p.scales[batch * p.batch_scale_bytes + swizzled_offset(r, c, p.padded_cols)] = 0;
    }
  }
}

}  // namespace mxjit
