// Pieces shared by the MXFP8 GEMM kernels: output types, e8m0 decoding, cp.async, the epilogue.
#pragma once

#include "mxfp8_gemm_params.cuh"
#include "mxfp8_numerics.cuh"

namespace mxjit {

struct OutBf16 {
  __device__ static unsigned short from_float(float f) {
    unsigned short h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
  }
  __device__ static float to_float(unsigned short h) { return __uint_as_float(static_cast<unsigned int>(h) << 16); }
};
struct OutFp16 {
  __device__ static unsigned short from_float(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
  }
  __device__ static float to_float(unsigned short h) { return Fp16::to_float(h); }
};

// 2^(b-127) for an e8m0 byte, exactly: 0 is the fp32 subnormal 2^-127, 255 is NaN.
__device__ __forceinline__ float e8m0_to_float(unsigned int b) {
  return __uint_as_float(b == 0 ? 0x00400000u : b == 255 ? 0x7FC00000u : b << 23);
}

// The same for byte i (a constant) of a word of four scale bytes, in two integer ops: the byte becomes
// the float's exponent field. Exact for bytes 1..254 only; e8m0_word_has_special tells when to use the
// above instead.
__device__ __forceinline__ float e8m0_byte_normal(unsigned int word, int i) {
  return __uint_as_float((i == 3 ? word >> 1 : word << (23 - 8 * i)) & 0x7F800000u);
}
// Non-zero when a byte of the word is 0 or 255 (2^-127 and NaN): the classic zero-byte test on the word
// and on its complement, exact as a yes/no.
__device__ __forceinline__ unsigned int e8m0_word_has_special(unsigned int w) {
  return (((w - 0x01010101u) & ~w) | ((~w - 0x01010101u) & w)) & 0x80808080u;
}
// Byte b of a scale word as a float: the short conversion where the caller knows no byte is special.
template <bool NormalScales>
__device__ __forceinline__ float e8m0_byte_to_float(unsigned int word, int b) {
  return NormalScales ? e8m0_byte_normal(word, b) : e8m0_to_float((word >> (8 * b)) & 0xFFu);
}
// The neutral scale word of padding (rows, tokens past the operand): 1.0 four times, not special.
constexpr unsigned int kE8m0OnesWord = 0x7F7F7F7Fu;

// cp.async of `Bytes` (16 or 4) with zero fill past `valid` bytes (0 = all zeros, nothing read).
template <int Bytes>
__device__ __forceinline__ void cp_async(void* smem, const void* gmem, int valid) {
  const unsigned int s = static_cast<unsigned int>(__cvta_generic_to_shared(smem));
  if (Bytes == 16)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(s), "l"(gmem), "r"(valid));
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(s), "l"(gmem), "r"(valid));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

// Orders this thread's earlier generic accesses to shared memory before later async-proxy ones (TMA,
// wgmma) and the reverse. Needed both ways: before tensor cores read what cp.async or stores wrote, and
// after reading a stage that a TMA refills, or the refill may land before the reads are performed.
__device__ __forceinline__ void fence_proxy_async_shared() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }

// Stage row r -> source row of a dense operand: rows [row0, row0 + Rows) of `rows`, -1 (zeros) past the end.
struct RowRange {
  int row0, rows;
  __device__ __forceinline__ int operator()(int r) const { return row0 + r < rows ? row0 + r : -1; }
};

// Copies the 4 scale bytes of K bytes [k0, k0 + 128) of each stage row r < Rows into dst[r]; row_of(r)
// names the source row, -1 for a row of zeros.
template <int Rows, int Threads, class RowOf>
__device__ __forceinline__ void load_scales(unsigned int* dst, const unsigned char* src, int ld_s, int k, int k0,
                                            const RowOf& row_of) {
  for (int r = threadIdx.x; r < Rows; r += Threads) {
    const int blocks_left = (k - k0) / 32;  // > 0: the stage starts inside K
    const int row = row_of(r);
    const unsigned char* g = row >= 0 ? src + row * static_cast<long long>(ld_s) + k0 / 32 : src;
    cp_async<4>(&dst[r], g, row >= 0 ? (blocks_left < 4 ? blocks_left : 4) : 0);
  }
}

// The cp.async multistage main loop over a split's K tiles: load(slot, kt) issues the copies of K tile kt
// into stage `slot`, compute(slot) consumes a landed stage. publish() runs in every thread after its own
// copies landed and before the barrier (the wgmma kernel fences them there for the async proxy).
template <int Stages, class Load, class Publish, class Compute>
__device__ __forceinline__ void gemm_mainloop(int kt_count, Load&& load, Publish&& publish, Compute&& compute) {
#pragma unroll
  for (int s = 0; s < Stages - 1; ++s) {
    if (s < kt_count) load(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < kt_count; ++kt) {
    cp_async_wait<Stages - 2>();
    publish();
    __syncthreads();  // stage kt landed for everyone; stage kt-1 is free to overwrite
    if (kt + Stages - 1 < kt_count) load((kt + Stages - 1) % Stages, kt + Stages - 1);
    cp_async_commit();
    compute(kt % Stages);
  }
  cp_async_wait<0>();
}

// One element of a tile's result, kernel coordinates (m, n), stored where it belongs. With split-K each
// split stores its fp32 partials and a second launch (mxfp8_gemm_split_reduce.cuh) sums them in split
// order (deterministic) across the whole GPU; otherwise the output gets it, plus the bias. SwapAB kernels
// hold the transposed product: kernel (m, n) is output (n, m).
template <class Out, bool SwapAB>
__device__ __forceinline__ void gemm_store_element(const GemmParams& p, int split, int m, int n, float v) {
  if (m >= p.m || n >= p.n) return;
  const int row = SwapAB ? n : m, col = SwapAB ? m : n;  // in the caller's [M, N] output
  if (p.splits > 1) {  // partials in the caller's [M, N] order, like the output
    p.partials[static_cast<long long>(split) * p.m * p.n + static_cast<long long>(row) * (SwapAB ? p.m : p.n) + col] = v;
    return;
  }
  const unsigned short* bias = static_cast<const unsigned short*>(p.bias);
  static_cast<unsigned short*>(p.out)[static_cast<long long>(row) * p.ldo + col] =
      Out::from_float(bias ? v + Out::to_float(bias[col]) : v);
}

// The epilogue of a tile, split blockIdx.z: `for_each(f)` calls f(m, n, value&) for every accumulator
// element the thread holds, in kernel coordinates.
template <class Out, bool SwapAB, class ForEach>
__device__ __forceinline__ void gemm_epilogue(const GemmParams& p, ForEach&& for_each) {
  for_each([&](int m, int n, float& v) { gemm_store_element<Out, SwapAB>(p, blockIdx.z, m, n, v); });
}

}  // namespace mxjit
