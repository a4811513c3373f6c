// One (M, N, K, out) of mxjit::tune_gemm: every candidate tile checked against the heuristic tile's
// output on the same random operands, then timed.
#include "ops/tune.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "mxjit/error.hpp"
#include "mxjit/quantize.hpp"
#include "ops/device_timer.hpp"
#include "ops/reference/mxfp8_reference.hpp"
#include "ops/tensor_checks.hpp"
#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::ops {
namespace {

constexpr int min_runs = 5, max_runs = 100;

// A random MXFP8 operand [rows, k] on the device, as the GEMM reads it: random bf16 quantized by
// quantize_mxfp8, scale rows padded to 4 bytes.
struct Operand {
  runtime::DeviceBuffer q, scales;
  TensorView q_view, scales_view;

  Operand(std::int64_t rows, std::int64_t k, std::mt19937& rng, CUstream stream) {
    const std::int64_t scale_stride = (k / 32 + 3) / 4 * 4;
    const auto count = static_cast<std::size_t>(rows * k);
    // Host generation is the slow part, so one block of values is repeated; its length is no power of
    // two, so rows of a power-of-two K still all differ. Blocks of 32 get their own binade, so the
    // scales vary as real activations' do; binades up to 2^2 keep outputs (std ~ 3 sqrt(K)) far from
    // fp16's overflow at 65504 for any K a model has.
    std::vector<std::uint16_t> host(std::min<std::size_t>(count, 999'968));
    std::normal_distribution<float> normal;
    std::uniform_int_distribution<int> binade(-4, 2);
    for (std::size_t i = 0; i < host.size(); i += 32) {
      const float scale = std::ldexp(1.f, binade(rng));
      for (std::size_t j = i; j < std::min(i + 32, host.size()); ++j) host[j] = reference::float_to_bf16(normal(rng) * scale);
    }
    runtime::DeviceBuffer values(count * 2);
    for (std::size_t at = 0; at < count; at += host.size())
      values.upload(host.data(), std::min(host.size(), count - at) * 2, at * 2);
    q = runtime::DeviceBuffer(count);
    scales = runtime::DeviceBuffer(static_cast<std::size_t>(rows * scale_stride));
    scales.fill(0, stream);  // row padding
    q_view = TensorView::contiguous(q.get(), DType::e4m3, {rows, k});
    scales_view = TensorView::contiguous(scales.get(), DType::e8m0, {rows, k / 32});
    scales_view.strides = {scale_stride, 1};
    quantize_mxfp8(TensorView::contiguous(values.get(), DType::bf16, {rows, k}), q_view, scales_view,
                   {ScaleLayout::linear, ScaleRule::rceil}, stream);
    MXJIT_CU(cuStreamSynchronize, stream);  // before `values` is freed
  }
};

std::vector<float> download_floats(const runtime::DeviceBuffer& out, DType dtype) {
  std::vector<std::uint16_t> bits(out.size() / 2);
  out.download(bits.data(), out.size());
  std::vector<float> values(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i)
    values[i] = dtype == DType::fp16 ? reference::fp16_to_float(bits[i]) : reference::bf16_to_float(bits[i]);
  return values;
}

// Root mean square of the finite values: the scale of the absolute tolerance.
double rms(const std::vector<float>& values) {
  double sum = 0;
  std::size_t count = 0;
  for (float v : values)
    if (std::isfinite(v)) sum += static_cast<double>(v) * v, ++count;
  return count ? std::sqrt(sum / count) : 0.0;
}

// Empty when every element of `got` is within 2^-6 |ref| + 2^-10 rms(ref) of `ref` (tiles differ only in
// the order of fp32 sums, far inside that), else a description of what differs. NaN never passes.
std::string compare(const std::vector<float>& got, const std::vector<float>& ref, double ref_rms, std::int64_t n) {
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double bound = std::ldexp(std::fabs(ref[i]), -6) + std::ldexp(ref_rms, -10);
    if (got[i] == ref[i] || std::fabs(static_cast<double>(got[i]) - ref[i]) <= bound) continue;
    if (bad++ == 0) first = i;
  }
  if (bad == 0) return {};
  return fmt::format("{} of {} outputs differ from the heuristic tile's by more than 2^-6 |ref| + 2^-10 rms(ref) "
                     "(rms {:g}); first out[{}, {}] = {:g}, reference {:g}",
                     bad, ref.size(), ref_rms, first / n, first % n, got[first], ref[first]);
}

}  // namespace

std::vector<int> gemm_tune_candidates(GemmFamilies families, std::int64_t m) {
  std::vector<int> out;
  for (int i = 0; i < static_cast<int>(std::size(gemm_tiles)); ++i)
    if (families.contains(gemm_tiles[i].family) && (!gemm_tiles[i].swap_ab || m <= gemm_tiles[i].bn)) out.push_back(i);
  return out;
}

std::vector<CandidateResult> tune_gemm_shape(GemmFamilies families, std::int64_t m, std::int64_t n, std::int64_t k,
                                             DType out, const std::vector<int>& candidates, double budget_ms,
                                             CUstream stream,
                                             const std::function<void(const CandidateResult&)>& on_result) {
  const runtime::DeviceInfo& info = runtime::device_info(runtime::current_device());
  std::mt19937 rng(static_cast<std::uint32_t>(m * 131 + n * 7 + k));
  const Operand a(m, k, rng, stream), b(n, k, rng, stream);
  runtime::DeviceBuffer out_buffer(static_cast<std::size_t>(m * n * 2));
  const TensorView out_view = TensorView::contiguous(out_buffer.get(), out, {m, n});
  DeviceTimer timer(stream);

  // Runs `tile` once over a NaN-filled output (an element it does not write cannot pass) and returns the
  // launch, for timing; the workspace is zeroed once, as the kernels leave it zeroed.
  runtime::DeviceBuffer workspace;
  auto run_once = [&](int tile) {
    if (tile < 0) invalid_argument(fmt::format("tune: candidate {} is not a tile index", tile));
    const GemmPlan plan = plan_gemm(families, m, n, k, info.sm_count, info.smem_per_sm, tile);
    workspace = runtime::DeviceBuffer(std::max<std::uint64_t>(plan.workspace_bytes, 16));
    workspace.fill(0, stream);
    out_buffer.fill(0xFF, stream);
    auto launch = [&, tile] {
      launch_gemm(families, a.q_view, a.scales_view, b.q_view, b.scales_view, nullptr, out_view, workspace.get(),
                  workspace.size(), stream, tile);
    };
    launch();
    MXJIT_CU(cuStreamSynchronize, stream);
    return launch;
  };

  const int heuristic = gemm_tile_for(families, m, n, k, info.sm_count, info.smem_per_sm);
  std::vector<float> reference;
  try {
    run_once(heuristic);
    reference = download_floats(out_buffer, out);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::internal, fmt::format("tune: the heuristic tile {} failed on M = {}, N = {}, K = {}, so "
                                                 "there is no reference output: {}",
                                                 gemm_tiles[heuristic].name(), m, n, k, e.what()));
  }
  const double reference_rms = rms(reference);

  std::vector<CandidateResult> results;
  const double budget_each = budget_ms / std::max<std::size_t>(candidates.size(), 1);
  for (int tile : candidates) {
    CandidateResult r;
    r.tile = tile;
    try {
      const auto launch = run_once(tile);
      r.error = compare(download_floats(out_buffer, out), reference, reference_rms, n);
      if (r.error.empty()) r.microseconds = 1000 * timer.median_ms_within(launch, budget_each, min_runs, max_runs);
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    results.push_back(r);
    if (on_result) on_result(r);
  }
  return results;
}

}  // namespace mxjit::ops
