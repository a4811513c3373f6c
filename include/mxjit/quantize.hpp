// MXFP8 quantization: bf16/fp16 -> fp8 e4m3 plus one e8m0 scale per 32 elements along the last dim.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "mxjit/types.hpp"

namespace mxjit {

struct QuantizeOptions {
  ScaleLayout layout = ScaleLayout::linear;
  ScaleRule rule = ScaleRule::rceil;
};

// Bytes of the scale tensor for an input [batches, rows, cols] (cols % 32 == 0) in `layout`.
// Linear: batches*rows*cols/32. Swizzled: batches * round_up(rows,128) * round_up(cols/32,4).
std::uint64_t mxfp8_scale_bytes(std::int64_t batches, std::int64_t rows, std::int64_t cols, ScaleLayout layout);

// Quantizes `input` ([R, K] or [B, R, K], bf16 or fp16, K % 32 == 0, last dim contiguous, row and batch
// strides multiples of 8 elements, 16-byte aligned) into `q` (e4m3, contiguous, same shape) and
// `scales` (e8m0: linear [.., R, K/32] contiguous, or swizzled as a flat buffer of
// mxfp8_scale_bytes() bytes, padding written as zero). One launch on `stream`, which must belong to
// the calling thread's current context. No allocation, no synchronization: graph-capturable.
// Throws Error(invalid_argument) naming the offending value and the rule it broke.
void quantize_mxfp8(const TensorView& input, const TensorView& q, const TensorView& scales,
                    const QuantizeOptions& options, CUstream stream);

}  // namespace mxjit
