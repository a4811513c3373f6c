// The grouped expert GEMM and the whole MXFP8 MoE layer beside a loop of cuBLASLt bf16 GEMMs over the
// same experts with the same token counts, and beside the device's copy bandwidth, in the same run:
// Qwen3-30B-A3B, Mixtral-8x7B and a DeepSeek-V3 expert-parallel shard (32 of 256 experts).
#include <benchmark/benchmark.h>

#include <fmt/format.h>

#include <memory>
#include <random>
#include <set>
#include <vector>

#include "cublaslt_baseline.hpp"
#include "device_timer.hpp"
#include "gpu_session.hpp"
#include "mxjit/grouped_gemm.hpp"
#include "mxjit/moe.hpp"
#include "ops/grouped_gemm.hpp"
#include "ops/moe_plan.hpp"
#include "ops/reference/moe_reference.hpp"
#include "random_data.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::bench {
namespace {

struct MoeModel {
  const char* name;
  std::int64_t experts, global_experts, hidden, inter, top_k;
};
constexpr MoeModel models[] = {
    {"qwen3_30b_a3b", 128, 128, 2048, 768, 8},
    {"mixtral_8x7b", 8, 8, 4096, 7168, 2},
    {"deepseek_v3_ep_shard", 32, 256, 7168, 2048, 8},  // this rank: global experts [32, 64)
};

// Random router logits for T tokens, routed on the host the way the layer routes them on the device:
// the per-local-expert row counts the GEMMs will see.
struct Routing {
  std::vector<float> logits;
  std::vector<std::int32_t> map;  // empty: no expert parallelism
  std::vector<std::int32_t> counts, offsets;
  std::int64_t rows = 0, touched = 0;

  Routing(const MoeModel& m, std::int64_t t, std::mt19937& rng) : logits(static_cast<std::size_t>(t * m.global_experts)) {
    std::normal_distribution<float> normal;
    for (float& v : logits) v = normal(rng);
    if (m.global_experts != m.experts) {
      map.assign(static_cast<std::size_t>(m.global_experts), -1);
      for (std::int64_t e = 0; e < m.experts; ++e) map[static_cast<std::size_t>(m.experts + e)] = static_cast<std::int32_t>(e);
    }
    const auto top = reference::route_topk(logits.data(), t, static_cast<int>(m.global_experts), m.global_experts,
                                           static_cast<int>(m.top_k), false);
    counts.assign(static_cast<std::size_t>(m.experts), 0);
    for (std::int32_t id : top.ids) {
      const int e = reference::local_expert(id, map.empty() ? nullptr : map.data(), m.global_experts,
                                            static_cast<int>(m.experts));
      if (e >= 0) ++counts[e];
    }
    offsets.push_back(0);
    for (std::int32_t c : counts) {
      offsets.push_back(offsets.back() + c);
      touched += c > 0;
    }
    rows = offsets.back();
  }
};

// The two grouped GEMMs of a MoE layer at T tokens (h = x . W13^T, then y = a . W2^T) on random MXFP8
// token rows, pre-sorted by expert, with the model's routing: what the grouped benchmarks time.
struct GroupedGemms {
  const MoeModel& m;
  Routing routing;
  std::int64_t rows;
  runtime::DeviceBuffer offsets, a1, a1_scales, a2, a2_scales, h1, y, workspace;
  ExpertGroups groups;

  GroupedGemms(const MoeModel& model, std::int64_t t, std::mt19937& rng)
      : m(model),
        routing(model, t, rng),
        rows(std::max<std::int64_t>(routing.rows, 1)),
        offsets(routing.offsets.size() * 4),
        a1(random_bytes(static_cast<std::size_t>(rows * m.hidden), false, rng)),
        a1_scales(random_bytes(static_cast<std::size_t>(rows * scale_row_bytes(m.hidden)), true, rng)),
        a2(random_bytes(static_cast<std::size_t>(rows * m.inter), false, rng)),
        a2_scales(random_bytes(static_cast<std::size_t>(rows * scale_row_bytes(m.inter)), true, rng)),
        h1(static_cast<std::size_t>(rows * 2 * m.inter * 2)),
        y(static_cast<std::size_t>(rows * m.hidden * 2)),
        workspace(std::max(grouped_gemm_mxfp8_workspace_bytes(rows, m.hidden),
                           grouped_gemm_mxfp8_workspace_bytes(rows, m.inter))),
        groups(ExpertGroups::contiguous(TensorView::contiguous(offsets.get(), DType::i32, {m.experts + 1}),
                                        std::max<std::int64_t>(1, t * m.top_k / m.global_experts))) {
    offsets.upload(routing.offsets.data(), offsets.size());
  }
  static std::int64_t scale_row_bytes(std::int64_t k) { return (k / 32 + 3) / 4 * 4; }

  // Both GEMMs over the given expert weights, with `tile` (an index into grouped_gemm_tiles) or the
  // heuristic's (-1).
  void run(const TensorView& w13, const TensorView& w13_scales, const TensorView& w2, const TensorView& w2_scales,
           CUstream stream, int tile = -1) const {
    ops::launch_grouped_gemm(TensorView::contiguous(a1.get(), DType::e4m3, {rows, m.hidden}),
                             scale_view(a1_scales.get(), rows, m.hidden), nullptr, w13, w13_scales, nullptr, groups,
                             TensorView::contiguous(h1.get(), DType::bf16, {rows, 2 * m.inter}), workspace.get(),
                             workspace.size(), stream, tile);
    ops::launch_grouped_gemm(TensorView::contiguous(a2.get(), DType::e4m3, {rows, m.inter}),
                             scale_view(a2_scales.get(), rows, m.inter), nullptr, w2, w2_scales, nullptr, groups,
                             TensorView::contiguous(y.get(), DType::bf16, {rows, m.hidden}), workspace.get(),
                             workspace.size(), stream, tile);
  }
  double touched_bytes() const { return routing.touched * 3.0 * m.hidden * m.inter * (1.0 + 1.0 / 32); }
  double flop() const { return 2.0 * routing.rows * 3.0 * m.hidden * m.inter; }
};

void BM_Moe(benchmark::State& state) {
  GpuSession* gpu = GpuSession::get(state);
  if (!gpu) return;
  const MoeModel& m = models[state.range(0)];
  const std::int64_t t = state.range(1), h = m.hidden, inter = m.inter;
  const CUstream stream = gpu->stream->get();
  std::mt19937 rng(static_cast<unsigned>(t));
  const GroupedGemms gemms(m, t, rng);
  const Routing& routing = gemms.routing;

  Mxfp8MoE layer(m.experts, m.top_k, h, inter, DType::bf16, {.max_tokens = t, .global_num_experts = m.global_experts});
  {
    auto w13 = random_bf16(static_cast<std::size_t>(m.experts * 2 * inter * h), rng);
    auto w2 = random_bf16(static_cast<std::size_t>(m.experts * h * inter), rng);
    layer.load_weights(w13.get(), w2.get(), stream);
    layer.process_weights_after_loading(stream);
  }
  auto x = random_bf16(static_cast<std::size_t>(t * h), rng);
  runtime::DeviceBuffer logits(routing.logits.size() * 4), map(std::max<std::size_t>(4, routing.map.size() * 4)),
      out(static_cast<std::size_t>(t * h * 2));
  logits.upload(routing.logits.data(), logits.size());
  if (!routing.map.empty()) map.upload(routing.map.data(), routing.map.size() * 4);
  const TensorView logits_view = TensorView::contiguous(logits.get(), DType::f32, {t, m.global_experts});
  const TensorView map_view = TensorView::contiguous(map.get(), DType::i32, {m.global_experts});
  Mxfp8MoE::Inputs in{TensorView::contiguous(x.get(), DType::bf16, {t, h}), &logits_view};
  in.expert_map = routing.map.empty() ? nullptr : &map_view;
  const TensorView out_view = TensorView::contiguous(out.get(), DType::bf16, {t, h});
  // The two grouped GEMMs alone, on the layer's weights with the same groups and the layer's tile: the
  // plain heuristic (tile -1) leaves out the TMA decode tiles, which need the touched bytes only the layer
  // estimates (ops/moe_plan.hpp).
  const int tile = ops::moe_grouped_gemm_tile({m.experts, m.global_experts, h, inter, m.top_k}, t,
                                              runtime::device_info(0).arch);
  auto grouped = [&] {
    gemms.run(layer.w13_weight(), layer.w13_weight_scale(), layer.w2_weight(), layer.w2_weight_scale(), stream, tile);
  };

  // Baseline: cuBLASLt bf16 for each expert with tokens, both projections (no routing, no activation).
  std::vector<std::unique_ptr<CublasLtGemm>> baseline;
  for (std::int32_t c : routing.counts)
    if (c > 0) {
      baseline.push_back(std::make_unique<CublasLtGemm>(BaselineType::bf16, c, 2 * inter, h, stream));
      baseline.push_back(std::make_unique<CublasLtGemm>(BaselineType::bf16, c, h, inter, stream));
    }

  DeviceTimer timer(stream);
  const int samples = t >= 4096 ? 10 : 30;
  double moe_ms = 0, grouped_ms = 0, bf16_ms = 0, copy_tbs = 0;
  for (auto _ : state) {
    moe_ms = timer.median_ms([&] { layer.apply(in, out_view, stream); }, samples);
    grouped_ms = timer.median_ms(grouped, samples);
    bf16_ms = baseline.empty() ? 0 : timer.median_ms([&] { for (auto& g : baseline) g->run(); }, samples);
    copy_tbs = copy_tbps(timer, stream);
    state.SetIterationTime(moe_ms * 1e-3);
  }
  const double touched_bytes = gemms.touched_bytes(), flop = gemms.flop();
  state.SetLabel(fmt::format("{} {}", m.name, ops::grouped_gemm_tiles[tile].name()));
  state.counters["moe_ms"] = moe_ms;
  state.counters["grouped_ms"] = grouped_ms;
  state.counters["cublas_bf16_loop_ms"] = bf16_ms;
  state.counters["rows"] = static_cast<double>(routing.rows);
  state.counters["touched_experts"] = static_cast<double>(routing.touched);
  state.counters["grouped_TFLOPs"] = flop / (grouped_ms * 1e-3) / 1e12;
  state.counters["grouped_weight_TBps"] = touched_bytes / (grouped_ms * 1e-3) / 1e12;
  state.counters["grouped_ratio_to_copy"] = touched_bytes / (grouped_ms * 1e-3) / 1e12 / copy_tbs;
  state.counters["moe_weight_TBps"] = touched_bytes / (moe_ms * 1e-3) / 1e12;
  state.counters["copy_TBps"] = copy_tbs;
  state.counters["grouped_speedup_vs_bf16"] = bf16_ms > 0 ? bf16_ms / grouped_ms : 0;
  state.counters["moe_speedup_vs_bf16"] = bf16_ms > 0 ? bf16_ms / moe_ms : 0;
}

// Every grouped decode tile (the portable streaming kernel and sm_90's TMA kernel) on the three models'
// decode token counts, beside the copy bandwidth of the same run: random MXFP8 expert weights, the
// model's routing, both grouped GEMMs of the layer.
void BM_GroupedDecodeTile(benchmark::State& state) {
  GpuSession* gpu = GpuSession::get(state);
  if (!gpu) return;
  const int tile = static_cast<int>(state.range(0));
  const MoeModel& m = models[state.range(1)];
  const std::int64_t t = state.range(2);
  if (!ops::gemm_family_supported(ops::grouped_gemm_tiles[tile].family, runtime::device_info(0).arch))
    return state.SkipWithError("not on this GPU");
  const CUstream stream = gpu->stream->get();
  std::mt19937 rng(static_cast<unsigned>(t * 3 + 1));
  const GroupedGemms gemms(m, t, rng);
  const std::int64_t e = m.experts, h = m.hidden, inter = m.inter;
  const std::int64_t sh = GroupedGemms::scale_row_bytes(h), si = GroupedGemms::scale_row_bytes(inter);
  auto w13 = random_bytes(static_cast<std::size_t>(e * 2 * inter * h), false, rng);
  auto w13_scales = random_bytes(static_cast<std::size_t>(e * 2 * inter * sh), true, rng);
  auto w2 = random_bytes(static_cast<std::size_t>(e * h * inter), false, rng);
  auto w2_scales = random_bytes(static_cast<std::size_t>(e * h * si), true, rng);
  const auto scales = [](std::uint64_t ptr, std::int64_t experts, std::int64_t n, std::int64_t k, std::int64_t pitch) {
    TensorView v = TensorView::contiguous(ptr, DType::e8m0, {experts, n, k / 32});
    v.strides = {n * pitch, pitch, 1};
    return v;
  };
  const TensorView w13_view = TensorView::contiguous(w13.get(), DType::e4m3, {e, 2 * inter, h});
  const TensorView w2_view = TensorView::contiguous(w2.get(), DType::e4m3, {e, h, inter});
  const TensorView w13_s = scales(w13_scales.get(), e, 2 * inter, h, sh), w2_s = scales(w2_scales.get(), e, h, inter, si);
  DeviceTimer timer(stream);
  double ms = 0, copy = 0;
  for (auto _ : state) {
    ms = timer.median_ms([&] { gemms.run(w13_view, w13_s, w2_view, w2_s, stream, tile); }, 30);
    copy = copy_tbps(timer, stream);
    state.SetIterationTime(ms * 1e-3);
  }
  const double tbs = gemms.touched_bytes() / (ms * 1e-3) / 1e12;
  state.SetLabel(fmt::format("{} {}", m.name, ops::grouped_gemm_tiles[tile].name()));
  state.counters["grouped_ms"] = ms;
  state.counters["touched_experts"] = static_cast<double>(gemms.routing.touched);
  state.counters["weight_TBps"] = tbs;
  state.counters["ratio_to_copy"] = tbs / copy;
}

void grouped_decode_tiles(benchmark::internal::Benchmark* b) {
  for (int tile = 0; tile < static_cast<int>(std::size(ops::grouped_gemm_tiles)); ++tile) {
    const ops::GemmTile& t = ops::grouped_gemm_tiles[tile];
    if (!t.streaming && t.family != ops::GemmFamily::tma_decode) continue;
    for (int model = 0; model < static_cast<int>(std::size(models)); ++model)
      for (std::int64_t tokens : {1, 16, 64}) b->Args({tile, model, tokens});
  }
}
BENCHMARK(BM_GroupedDecodeTile)->Apply(grouped_decode_tiles)->ArgNames({"tile", "model", "T"})->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);

void moe_shapes(benchmark::internal::Benchmark* b) {
  for (int model = 0; model < static_cast<int>(std::size(models)); ++model)
    for (std::int64_t t : {1, 16, 64, 512, 4096, 16384}) b->Args({model, t});
}
BENCHMARK(BM_Moe)->Apply(moe_shapes)->ArgNames({"model", "T"})->UseManualTime()->Iterations(1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mxjit::bench
