// Launch parameters of mxfp8_dequantize_bf16.cuh, shared verbatim by host and device code.
#pragma once

namespace mxjit {

struct DequantizeBf16Params {
  const unsigned char* q;       // [rows, k] e4m3, rows ld bytes apart
  const unsigned char* scales;  // [rows, k / 32] e8m0, rows ld_s bytes apart
  unsigned short* out;          // [rows, ld_out] bf16, K permuted (mxfp8_dequantize_bf16.cuh)
  unsigned char* exact;         // [rows]: 1 where a block of the row needs the exact path, else 0
  long long ld, ld_out;
  int ld_s, rows, k;
};

}  // namespace mxjit
