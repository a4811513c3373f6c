// Launch parameters of mxfp8_dequantize_bf16.cuh, shared verbatim by host and device code.
#pragma once

namespace mxjit {

struct DequantizeBf16Params {
  const unsigned char* q;       // [q_rows, k] e4m3, rows ld bytes apart
  const unsigned char* scales;  // [q_rows, k / 32] e8m0, rows ld_s bytes apart
  unsigned short* out;          // [rows, ld_out] bf16, K permuted (mxfp8_dequantize_bf16.cuh)
  unsigned char* exact;         // [rows]: 1 where a block of the row needs the exact path, else 0
  const int* gather;            // or null: out row r is q row gather[r] (zeros where that is outside [0, q_rows))
  const int* rows_in_use;       // or null: out rows from *rows_in_use on are left as they are (nothing reads them)
  long long ld, ld_out;
  int ld_s, rows, q_rows, k;
};

}  // namespace mxjit
