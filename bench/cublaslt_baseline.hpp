// cuBLASLt baselines for the linear layer out[M,N] = x[M,K] . W[N,K]^T, timed like mxjit's kernels.
//
// Only the benchmark binary links cuBLASLt (never the mxjit library). Buffers come from
// runtime::DeviceBuffer (cuMemAlloc) and the matmul is enqueued on the caller's CUstream, so a
// benchmark can time it with the same DeviceTimer (L2 flush, median) as the kernel it compares.
//
// Layouts (all row-major, K innermost, which is what cuBLASLt calls "TN"):
//   W   [N, K]  bf16 or e4m3   (cuBLAS matrix A)
//   x   [M, K]  bf16 or e4m3   (cuBLAS matrix B)
//   out [M, N]  bf16           (cuBLAS matrices C and D; C = D, beta = 0)
// Compute is fp32 (CUBLAS_COMPUTE_32F) for both types. fp8 uses per-tensor float scales of 1.0 for A
// and B (device pointers), the default slow (split) accumulation, no bias, no epilogue.
#pragma once

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "runtime/device.hpp"

namespace mxjit::bench {

enum class BaselineType { bf16, fp8_per_tensor };

const char* to_string(BaselineType type);

// One problem shape; owns its buffers, filled once with random data (never zeros: zeros run faster
// than real data on tensor cores), and the algorithm cuBLASLt's heuristic picked for the shape.
class CublasLtGemm {
 public:
  static constexpr std::size_t workspace_bytes = 32u << 20;  // 32 MiB, offered to the heuristic

  // The stream's context (the device's primary context) must be current. Throws std::runtime_error
  // naming the call and its cublasStatus_t (e.g. CUBLAS_STATUS_NOT_SUPPORTED) when a cuBLASLt call
  // fails or the heuristic returns no algorithm.
  //
  // fp8 only: when the heuristic finds no algorithm for M (small M is the risk: the fp8 kernels want
  // 16-element aligned dimensions), M is padded up to a multiple of 16 and the heuristic asked again;
  // padded_m() then says which M is actually computed (the extra rows of x hold random data too, and
  // their cost is in the timing). bf16 is never padded. Seen on H100 with cuBLAS 13.1: the heuristic
  // and the matmul accept fp8 M = 1, 2, 8, 16, 100, 2048 (N = 4096, K = 4096; and M = 1, N = 28672), so
  // the fallback did not trigger there; it is kept for other cuBLAS versions and odd shapes.
  CublasLtGemm(BaselineType type, std::int64_t M, std::int64_t N, std::int64_t K, CUstream stream);
  ~CublasLtGemm();
  CublasLtGemm(const CublasLtGemm&) = delete;
  CublasLtGemm& operator=(const CublasLtGemm&) = delete;

  // Enqueues one matmul on the stream (asynchronous; throws on a failed launch).
  void run();

  BaselineType type() const { return type_; }
  std::int64_t m() const { return m_; }                // as asked
  std::int64_t padded_m() const { return padded_m_; }  // as computed (== m() unless fp8 padding)
  std::int64_t n() const { return n_; }
  std::int64_t k() const { return k_; }
  std::size_t input_elem_bytes() const { return type_ == BaselineType::bf16 ? 2 : 1; }
  CUdeviceptr weight() const { return w_.get(); }     // [N, K]
  CUdeviceptr input() const { return x_.get(); }      // [padded_m, K]
  CUdeviceptr output() const { return out_.get(); }   // [padded_m, N] bf16
  std::size_t algo_workspace_bytes() const;           // what the chosen algorithm says it needs

 private:
  struct Lt;  // cuBLASLt handle, descriptors and the chosen algorithm (keeps cublasLt.h out of here)

  BaselineType type_;
  std::int64_t m_, padded_m_, n_, k_;
  CUstream stream_;
  std::unique_ptr<Lt> lt_;
  runtime::DeviceBuffer w_, x_, out_, scales_, workspace_;
};

}  // namespace mxjit::bench
