// Launch parameters of mxfp8_quantize_kernel. Plain C++ shared verbatim by host and device code:
// the host fills it, NVRTC compiles the kernel against the same definition.
#pragma once

namespace mxjit {

// n / d and n % d for a run-time divisor d >= 1 and any 32-bit n, by multiply and shift
// (Granlund-Montgomery): q = (umulhi(n, multiplier) + n) >> shift, computed in 64 bits.
struct FastDivisor {
  unsigned int divisor;
  unsigned int multiplier;
  unsigned int shift;
};

struct QuantizeParams {
  const void* input;           // bf16 or fp16 [batches, rows, cols], last dim contiguous
  unsigned char* q;            // e4m3, contiguous [batches, rows, cols]
  unsigned char* scales;       // e8m0, linear or swizzled 128x4 (per batch)
  long long in_batch_stride;   // elements
  long long in_row_stride;     // elements
  unsigned int total_blocks;   // batches * rows * cols/32
  unsigned int rows;           // per batch
  FastDivisor blocks_per_row;  // cols / 32
  FastDivisor rows_per_batch;  // rows
  unsigned int scale_row_stride;  // linear layout: bytes between scale rows (>= cols/32)
  unsigned int scales_packed;     // linear layout: rows unpadded and 4-byte aligned, so words can be stored
  // swizzled layout only: the work unit is one 512-byte scale tile, 128 rows x 4 scale columns
  unsigned int row_tiles;      // round_up(rows, 128) / 128, per batch
  unsigned int col_tiles;      // round_up(cols/32, 4) / 4
  unsigned int total_tiles;    // batches * row_tiles * col_tiles
};

}  // namespace mxjit
