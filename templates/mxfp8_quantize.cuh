// MXFP8 quantize: bf16/fp16 [B, R, K] -> e4m3 [B, R, K] + e8m0 scales, one launch for every batch.
//
// Work split: 4 consecutive lanes (a quad) own one 32-element block, 8 elements (16 bytes) per lane,
// so every access is 16 bytes wide. The block amax is a max over 16-bit magnitudes (an unsigned max
// orders them, NaN above Inf) plus two quad shuffles. Each thread keeps `Unroll` independent 16-byte
// loads in flight. The two scale layouts walk the tensor differently (see their functions).
#pragma once

#include "grid_dependency.cuh"
#include "mxfp8_numerics.cuh"
#include "mxfp8_quantize_params.cuh"

namespace mxjit {

enum ScaleLayoutId { kLayoutLinear = 0, kLayoutSwizzled128x4 = 1 };

__device__ __forceinline__ unsigned int fast_div(unsigned int n, const FastDivisor& d) {
  return static_cast<unsigned int>((static_cast<unsigned long long>(__umulhi(n, d.multiplier)) + n) >> d.shift);
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

// Loads one lane's 16 bytes of block `col_block` of input row (batch, r).
__device__ __forceinline__ uint4 load_lane(const QuantizeParams& p, unsigned int batch, unsigned int r,
                                           unsigned int col_block, unsigned int quad_lane) {
  const long long offset = batch * p.in_batch_stride + r * p.in_row_stride + col_block * 32ll + quad_lane * 8;
  return load_streaming(static_cast<const unsigned short*>(p.input) + offset);
}

// The block's scale byte: the quad's 16-bit magnitudes reduced with two shuffles. Every lane of the
// warp must call it (full-mask shuffles); lanes of absent blocks pass zeros.
template <class In, int Rule>
__device__ __forceinline__ unsigned int quad_scale_byte(const uint4& v) {
  unsigned int amax = lane_amax_bits(v);
  amax = max(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 1));
  amax = max(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 2));
  return block_scale_byte<In, Rule>(amax);
}

// Linear scales: blocks in row-major order, a warp takes 8 * Unroll consecutive blocks a step (8 per
// load round, 512 contiguous input bytes when rows are contiguous). Their scale bytes are staged in
// shared memory and stored as whole 4-byte words where the scale rows are unpadded and aligned (a full
// 32-byte sector at Unroll 4), else byte by byte.
template <class In, int Rule, int Unroll>
__device__ __forceinline__ void quantize_linear(const QuantizeParams& p) {
  constexpr unsigned int group = 8u * Unroll;  // blocks per warp step
  __shared__ __align__(4) unsigned char staged[8][group];
  const unsigned int lane = threadIdx.x & 31u, quad_lane = lane & 3u, warp_in_cta = threadIdx.x >> 5;
  const unsigned int warps_total = gridDim.x * (blockDim.x >> 5);
  const unsigned int warp = blockIdx.x * (blockDim.x >> 5) + warp_in_cta;
  // Warp-uniform loop bounds: every lane reaches the shuffles, whatever its own block's validity.
  for (unsigned long long first = group * static_cast<unsigned long long>(warp); first < p.total_blocks;
       first += group * static_cast<unsigned long long>(warps_total)) {
    uint4 v[Unroll];
    unsigned int blk[Unroll], scale_at[Unroll];
#pragma unroll
    for (int u = 0; u < Unroll; ++u) {
      const unsigned long long b = first + 8ull * u + (lane >> 2);
      blk[u] = b < p.total_blocks ? static_cast<unsigned int>(b) : 0xFFFFFFFFu;
      v[u] = make_uint4(0, 0, 0, 0);
      if (blk[u] != 0xFFFFFFFFu) {
        const unsigned int row = fast_div(blk[u], p.blocks_per_row);
        const unsigned int col_block = blk[u] - row * p.blocks_per_row.divisor;
        const unsigned int batch = fast_div(row, p.rows_per_batch);
        v[u] = load_lane(p, batch, row - batch * p.rows, col_block, quad_lane);
        scale_at[u] = row * p.scale_row_stride + col_block;
      }
    }
#pragma unroll
    for (int u = 0; u < Unroll; ++u) {
      const unsigned int b = quad_scale_byte<In, Rule>(v[u]);
      if (blk[u] == 0xFFFFFFFFu) continue;
      *reinterpret_cast<uint2*>(p.q + blk[u] * 32ull + quad_lane * 8) = quantize_lane<In, Rule>(v[u], b);
      if (quad_lane != 0) continue;
      if (p.scales_packed) staged[warp_in_cta][8 * u + (lane >> 2)] = static_cast<unsigned char>(b);
      else p.scales[scale_at[u]] = static_cast<unsigned char>(b);
    }
    if (p.scales_packed) {  // uniform across the grid
      __syncwarp();
      const unsigned long long left = p.total_blocks - first;  // > 0
      if (left >= group) {
        if (lane < group / 4)
          reinterpret_cast<unsigned int*>(p.scales + first)[lane] = reinterpret_cast<const unsigned int*>(staged[warp_in_cta])[lane];
      } else {
        for (unsigned int i = lane; i < left; i += 32) p.scales[first + i] = staged[warp_in_cta][i];
      }
      __syncwarp();  // the staging row is refilled next step
    }
  }
}

// Swizzled scales: a CTA takes whole 512-byte scale tiles (128 rows x 4 scale columns = 128 x 128
// input elements), gathers the tile in shared memory and writes it with 16-byte stores, so every
// scale sector is written once and whole. Rows and columns past the tensor (the padding) score 0.
template <class In, int Rule, int Unroll>
__device__ __forceinline__ void quantize_swizzled(const QuantizeParams& p) {
  constexpr int quads = 256 / 4, steps = 512 / quads;  // 8 steps of 64 blocks cover a tile
  static_assert(steps % Unroll == 0, "Unroll must divide the 8 steps of a tile");
  __shared__ __align__(16) unsigned char tile_scales[512];
  const unsigned int quad = threadIdx.x >> 2, quad_lane = threadIdx.x & 3u;
  const unsigned int cols = p.blocks_per_row.divisor, tiles_per_batch = p.row_tiles * p.col_tiles;
  for (unsigned int tile = blockIdx.x; tile < p.total_tiles; tile += gridDim.x) {
    const unsigned int batch = tile / tiles_per_batch, in_batch = tile - batch * tiles_per_batch;
    const unsigned int row0 = (in_batch / p.col_tiles) * 128u, col0 = (in_batch % p.col_tiles) * 4u;
#pragma unroll
    for (int s0 = 0; s0 < steps; s0 += Unroll) {
      uint4 v[Unroll];
      bool present[Unroll];
#pragma unroll
      for (int u = 0; u < Unroll; ++u) {
        const unsigned int j = (s0 + u) * quads + quad, r = row0 + (j >> 2), c = col0 + (j & 3u);
        present[u] = r < p.rows && c < cols;
        v[u] = present[u] ? load_lane(p, batch, r, c, quad_lane) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < Unroll; ++u) {
        const unsigned int j = (s0 + u) * quads + quad, r_in = j >> 2, c_in = j & 3u;
        const unsigned int b = quad_scale_byte<In, Rule>(v[u]);  // absent blocks hold zeros: b = 0
        if (quad_lane == 0) tile_scales[(r_in & 31u) * 16u + (r_in >> 5) * 4u + c_in] = static_cast<unsigned char>(b);
        if (present[u]) {
          const unsigned long long row = static_cast<unsigned long long>(batch) * p.rows + row0 + r_in;
          *reinterpret_cast<uint2*>(p.q + (row * cols + col0 + c_in) * 32ull + quad_lane * 8) =
              quantize_lane<In, Rule>(v[u], b);
        }
      }
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      const unsigned long long at = static_cast<unsigned long long>(batch) * p.row_tiles * p.col_tiles * 512ull +
                                    ((row0 >> 7) * p.col_tiles + (col0 >> 2)) * 512ull + threadIdx.x * 16u;
      *reinterpret_cast<uint4*>(p.scales + at) = reinterpret_cast<const uint4*>(tile_scales)[threadIdx.x];
    }
    __syncthreads();  // the tile buffer is reused by the next tile
  }
}

template <class In, int Layout, int Rule, int Unroll>
__global__ void __launch_bounds__(256) mxfp8_quantize_kernel(const QuantizeParams p) {
  start_in_stream_order();
  if constexpr (Layout == kLayoutLinear) quantize_linear<In, Rule, Unroll>(p);
  else quantize_swizzled<In, Rule, Unroll>(p);
}

}  // namespace mxjit
