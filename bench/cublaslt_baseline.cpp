// cuBLASLt baselines (see cublaslt_baseline.hpp) and their own small benchmark, BM_CublasLt.
#include "cublaslt_baseline.hpp"

#include <benchmark/benchmark.h>
#include <cublasLt.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "device_timer.hpp"
#include "gpu_session.hpp"
#include "ops/reference/mxfp8_reference.hpp"

namespace mxjit::bench {
namespace {

[[noreturn]] void throw_cublas(const char* call, cublasStatus_t status) {
  const char* name = cublasLtGetStatusName(status);
  throw std::runtime_error(std::string("cuBLASLt: ") + call + " failed: " + (name ? name : "unknown status") +
                           " (" + std::to_string(static_cast<int>(status)) + ")");
}

// Calls fn(args...) and throws naming fn and the status on failure (set CUBLASLT_LOG_LEVEL=2, or 5
// for a trace of every call, to have cuBLASLt print why).
#define MXJIT_CUBLASLT(fn, ...)                                                         \
  do {                                                                                  \
    const cublasStatus_t mxjit_lt_status_ = fn(__VA_ARGS__);                            \
    if (mxjit_lt_status_ != CUBLAS_STATUS_SUCCESS) throw_cublas(#fn, mxjit_lt_status_); \
  } while (0)

// Fills `buffer` with a 4 MiB host pattern of T made by `make(rng)`, repeated; large weights would take
// seconds to generate element by element.
template <typename T, typename Make>
void fill_random(runtime::DeviceBuffer& buffer, std::uint32_t seed, Make make) {
  std::vector<T> host((4u << 20) / sizeof(T));
  std::mt19937 rng(seed);
  for (auto& h : host) h = make(rng);
  const std::size_t chunk = host.size() * sizeof(T);
  for (std::size_t off = 0; off < buffer.size(); off += chunk)
    buffer.upload(host.data(), std::min(chunk, buffer.size() - off), off);
}

void fill_bf16(runtime::DeviceBuffer& buffer, std::uint32_t seed) {
  std::normal_distribution<float> normal;
  fill_random<std::uint16_t>(buffer, seed, [&](std::mt19937& rng) { return reference::float_to_bf16(normal(rng)); });
}

void fill_e4m3(runtime::DeviceBuffer& buffer, std::uint32_t seed) {
  std::uniform_int_distribution<int> byte(0, 255);
  fill_random<std::uint8_t>(buffer, seed, [&](std::mt19937& rng) {
    int b;
    do b = byte(rng);
    while ((b & 0x7F) == 0x7F);  // 0x7F and 0xFF are e4m3's NaN codes
    return static_cast<std::uint8_t>(b);
  });
}

}  // namespace

const char* to_string(BaselineType type) {
  return type == BaselineType::bf16 ? "bf16" : "fp8_per_tensor";
}

struct CublasLtGemm::Lt {
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;  // C shares D's layout
  cublasLtMatmulPreference_t pref = nullptr;
  cublasLtMatmulHeuristicResult_t algo{};

  ~Lt() {  // destroy calls only free host memory; their status is not worth a throw from here
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    destroy_layouts();
    if (op) cublasLtMatmulDescDestroy(op);
    if (handle) cublasLtDestroy(handle);
  }
  void destroy_layouts() {
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (d) cublasLtMatrixLayoutDestroy(d);
    a = b = d = nullptr;
  }

  // Builds the layouts for this M and asks the heuristic for its best algorithm. Returns the
  // heuristic's status, CUBLAS_STATUS_NOT_SUPPORTED when it returned no algorithm; throws on others.
  cublasStatus_t choose(cudaDataType_t in_type, std::int64_t M, std::int64_t N, std::int64_t K) {
    destroy_layouts();
    // cuBLAS is column-major. Row-major W [N, K] is, byte for byte, a column-major K x N matrix with
    // ld = K; row-major x [M, K] is a column-major K x M matrix with ld = K; and row-major out [M, N]
    // is a column-major N x M matrix with ld = N. In those terms out^T = W . x^T reads
    //     D (N x M) = op(A) . op(B),  A = W as K x N with transa = T  ->  op(A) = N x K,
    //                                 B = x as K x M with transb = N  ->  op(B) = K x M,
    // so cuBLAS's (m, n, k) = (N, M, K). Both operands are K-major: the "TN" layout, the only one
    // cuBLASLt's fp8 kernels accept on Hopper. Layout descriptors describe A and B as stored (before op).
    MXJIT_CUBLASLT(cublasLtMatrixLayoutCreate, &a, in_type, K, N, K);
    MXJIT_CUBLASLT(cublasLtMatrixLayoutCreate, &b, in_type, K, M, K);
    MXJIT_CUBLASLT(cublasLtMatrixLayoutCreate, &d, CUDA_R_16BF, N, M, N);
    int found = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle, op, a, b, d, d, pref, 1, &algo, &found);
    if (status == CUBLAS_STATUS_NOT_SUPPORTED || (status == CUBLAS_STATUS_SUCCESS && found == 0))
      return CUBLAS_STATUS_NOT_SUPPORTED;
    if (status != CUBLAS_STATUS_SUCCESS) throw_cublas("cublasLtMatmulAlgoGetHeuristic", status);
    return CUBLAS_STATUS_SUCCESS;
  }
};

CublasLtGemm::CublasLtGemm(BaselineType type, std::int64_t M, std::int64_t N, std::int64_t K, CUstream stream)
    : type_(type), m_(M), padded_m_(M), n_(N), k_(K), stream_(stream), lt_(std::make_unique<Lt>()) {
  if (M <= 0 || N <= 0 || K <= 0) throw std::invalid_argument("CublasLtGemm: M, N and K must be positive");
  const bool fp8 = type == BaselineType::fp8_per_tensor;
  const cudaDataType_t in_type = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;

  MXJIT_CUBLASLT(cublasLtCreate, &lt_->handle);
  MXJIT_CUBLASLT(cublasLtMatmulDescCreate, &lt_->op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  MXJIT_CUBLASLT(cublasLtMatmulDescSetAttribute, lt_->op, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa));
  MXJIT_CUBLASLT(cublasLtMatmulDescSetAttribute, lt_->op, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb));
  if (fp8) {
    // Per-tensor scales: one float each in device memory, both 1.0. Each sits on its own 256-byte
    // boundary: cuBLASLt's fp8 path wants every pointer it is given 16-byte aligned, and a scale at
    // base + 4 makes cublasLtMatmul (not the heuristic) return CUBLAS_STATUS_NOT_SUPPORTED.
    constexpr std::size_t scale_stride = 256;
    scales_ = runtime::DeviceBuffer(2 * scale_stride);
    const float one = 1.0f;
    scales_.upload(&one, sizeof(one), 0);
    scales_.upload(&one, sizeof(one), scale_stride);
    const void* a_scale = reinterpret_cast<const void*>(scales_.get());
    const void* b_scale = reinterpret_cast<const void*>(scales_.get() + scale_stride);
    MXJIT_CUBLASLT(cublasLtMatmulDescSetAttribute, lt_->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale,
                   sizeof(a_scale));
    MXJIT_CUBLASLT(cublasLtMatmulDescSetAttribute, lt_->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale,
                   sizeof(b_scale));
  }
  MXJIT_CUBLASLT(cublasLtMatmulPreferenceCreate, &lt_->pref);
  const std::uint64_t max_workspace = workspace_bytes;
  MXJIT_CUBLASLT(cublasLtMatmulPreferenceSetAttribute, lt_->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                 &max_workspace, sizeof(max_workspace));

  cublasStatus_t status = lt_->choose(in_type, M, N, K);
  if (status != CUBLAS_STATUS_SUCCESS && fp8 && M % 16 != 0) {
    padded_m_ = (M + 15) / 16 * 16;
    status = lt_->choose(in_type, padded_m_, N, K);
  }
  if (status != CUBLAS_STATUS_SUCCESS) {
    const char* name = cublasLtGetStatusName(status);
    throw std::runtime_error(std::string("cuBLASLt: no algorithm for ") + to_string(type) + " M=" + std::to_string(M) +
                             " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                             (padded_m_ != M ? " (nor for M padded to " + std::to_string(padded_m_) + ")" : "") +
                             ": cublasLtMatmulAlgoGetHeuristic: " + (name ? name : "unknown status"));
  }

  const std::size_t elem = input_elem_bytes();
  w_ = runtime::DeviceBuffer(static_cast<std::size_t>(N * K) * elem);
  x_ = runtime::DeviceBuffer(static_cast<std::size_t>(padded_m_ * K) * elem);
  out_ = runtime::DeviceBuffer(static_cast<std::size_t>(padded_m_ * N) * 2);
  workspace_ = runtime::DeviceBuffer(workspace_bytes);
  if (fp8) {
    fill_e4m3(w_, 1);
    fill_e4m3(x_, 2);
  } else {
    fill_bf16(w_, 1);
    fill_bf16(x_, 2);
  }
  out_.fill(0, stream_);
  MXJIT_CU(cuStreamSynchronize, stream_);
}

CublasLtGemm::~CublasLtGemm() {
  // Work still queued may read the buffers freed below; never throw from here.
  if (runtime::gpu_available()) runtime::driver().cuStreamSynchronize(stream_);
}

std::size_t CublasLtGemm::algo_workspace_bytes() const { return lt_->algo.workspaceSize; }

void CublasLtGemm::run() {
  const float alpha = 1.0f, beta = 0.0f;
  void* out = reinterpret_cast<void*>(out_.get());  // C and D (beta = 0: C is never read)
  MXJIT_CUBLASLT(cublasLtMatmul, lt_->handle, lt_->op, &alpha, reinterpret_cast<const void*>(w_.get()), lt_->a,
                 reinterpret_cast<const void*>(x_.get()), lt_->b, &beta, out, lt_->d, out, lt_->d, &lt_->algo.algo,
                 reinterpret_cast<void*>(workspace_.get()), workspace_bytes, reinterpret_cast<cudaStream_t>(stream_));
}

namespace {

// out[M,N] = x[M,K] . W[N,K]^T through cuBLASLt: median device time with the L2 flushed before each run.
void BM_CublasLt(benchmark::State& state, BaselineType type) {
  GpuSession* gpu = GpuSession::get(state);
  if (!gpu) return;
  const std::int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const CUstream stream = gpu->stream->get();
  std::unique_ptr<CublasLtGemm> gemm;
  DeviceTimer timer(stream);
  double ms = 0;
  try {  // a shape cuBLASLt cannot run is reported as this benchmark's error, not a crash of the binary
    gemm = std::make_unique<CublasLtGemm>(type, M, N, K, stream);
    gemm->run();
    MXJIT_CU(cuStreamSynchronize, stream);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  for (auto _ : state) {
    ms = timer.median_ms([&] { gemm->run(); });
    state.SetIterationTime(ms / 1e3);
  }
  const double seconds = ms * 1e-3;
  state.counters["ms"] = ms;
  state.counters["TFLOPs"] = 2.0 * M * N * K / seconds / 1e12;  // useful work: the M asked for
  state.counters["weight_TBps"] = static_cast<double>(N) * K * gemm->input_elem_bytes() / seconds / 1e12;
  state.counters["padded_m"] = static_cast<double>(gemm->padded_m());
  state.counters["workspace_MiB"] = gemm->algo_workspace_bytes() / double(1 << 20);
}

void cublaslt_shapes(benchmark::internal::Benchmark* b) {
  for (const std::int64_t m : {1, 16, 2048})
    for (const auto& [n, k] : {std::pair<std::int64_t, std::int64_t>{28672, 4096}, {4096, 4096}}) b->Args({m, n, k});
  b->UseManualTime()->Iterations(1);
}

BENCHMARK_CAPTURE(BM_CublasLt, bf16, BaselineType::bf16)->Apply(cublaslt_shapes);
BENCHMARK_CAPTURE(BM_CublasLt, fp8_per_tensor, BaselineType::fp8_per_tensor)->Apply(cublaslt_shapes);

}  // namespace
}  // namespace mxjit::bench
