// The whole MXFP8 MoE forward on the GPU against a CPU reference: fp64 dot products over the dequantized
// weights (as process_weights_after_loading quantized them), h rounded to the activation dtype, the
// intermediate quantized exactly as the kernel does, y rounded, the weighted sum over slots in fp32.
// Models: Qwen3-30B-A3B, Mixtral-8x7B, a DeepSeek-V3 expert-parallel shard; T in {1, 3, 64, 1000, 8192}.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "gpu_fixture.hpp"
#include "mxfp8_operands.hpp"
#include "mxjit/error.hpp"
#include "mxjit/moe.hpp"
#include "ops/reference/moe_reference.hpp"
#include "ops/reference/mxfp8_reference.hpp"
#include "runtime/driver_api.hpp"
#include "test_support.hpp"

namespace mxjit::testing {
namespace {

struct MoeModel {
  const char* name;
  std::int64_t experts, global_experts, hidden, inter, top_k;
};
constexpr MoeModel qwen3{"qwen3_30b_a3b", 128, 128, 2048, 768, 8};
constexpr MoeModel mixtral{"mixtral_8x7b", 8, 8, 4096, 7168, 2};
constexpr MoeModel deepseek_ep{"deepseek_v3_ep8_shard", 32, 256, 7168, 2048, 8};

// Many values fast (the experts of a layer are up to 10^9 of them): a counter hash, roughly Gaussian
// (sum of four uniforms), times `scale`, as bf16/fp16 bits.
std::vector<std::uint16_t> random_values(std::size_t count, std::uint64_t seed, float scale, DType dtype) {
  std::vector<std::uint16_t> v(count);
  parallel_for(count, [&](std::size_t i) {
    std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + i;
    float sum = 0;
    for (int u = 0; u < 4; ++u) {
      z += 0x9E3779B97F4A7C15ull;
      std::uint64_t x = z;
      x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
      x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
      x ^= x >> 31;
      sum += static_cast<float>(x >> 40) * 0x1p-24f;
    }
    const float value = (sum - 2.f) * 1.7320508f * scale;
    v[i] = dtype == DType::bf16 ? reference::float_to_bf16(value) : reference::float_to_fp16(value);
  });
  return v;
}

std::vector<std::uint8_t> download(const TensorView& t, std::size_t bytes) {
  std::vector<std::uint8_t> host(bytes);
  MXJIT_CU(cuMemcpyDtoH, host.data(), t.data, bytes);
  return host;
}

// A processed layer and host copies of its MXFP8 weights (the reference reads exactly these).
struct MoeLayer {
  MoeModel m;
  DType dtype;
  Mxfp8MoE layer;
  std::vector<std::uint8_t> w13_q, w13_s, w2_q, w2_s;
  std::int64_t w13_ss, w2_ss;  // scale row strides
  std::vector<std::uint16_t> b13, b2;
  runtime::DeviceBuffer d_b13, d_b2;
  TensorView b13_view, b2_view;

  MoeLayer(const MoeModel& model, DType dt, std::int64_t max_tokens, CUstream stream)
      : m(model),
        dtype(dt),
        layer(model.experts, model.top_k, model.hidden, model.inter, dt,
              {.max_tokens = max_tokens, .global_num_experts = model.global_experts}) {
    const std::int64_t e = m.experts, h = m.hidden, i = m.inter;
    {
      const auto w13 = random_values(static_cast<std::size_t>(e * 2 * i * h), 1, 0.0625f, dt);
      const auto w2 = random_values(static_cast<std::size_t>(e * h * i), 2, 0.0625f, dt);
      runtime::DeviceBuffer d13(w13.size() * 2), d2(w2.size() * 2);
      d13.upload(w13.data(), d13.size());
      d2.upload(w2.data(), d2.size());
      layer.load_weights(d13.get(), d2.get(), stream);
      layer.process_weights_after_loading(stream);
      // Spot check against the CPU quantizer (the batched quantize itself is tested bit for bit elsewhere).
      const auto ref = reference::quantize(w13.data(), dt, 1, 2, h, h, 2 * h, ScaleLayout::linear, ScaleRule::rceil);
      const auto q = download(layer.w13_weight(), static_cast<std::size_t>(2 * h));
      EXPECT_TRUE(q == ref.q) << "w13 rows 0-1 differ from the reference quantizer";
    }
    w13_ss = layer.w13_weight_scale().strides[1];
    w2_ss = layer.w2_weight_scale().strides[1];
    w13_q = download(layer.w13_weight(), static_cast<std::size_t>(e * 2 * i * h));
    w2_q = download(layer.w2_weight(), static_cast<std::size_t>(e * h * i));
    w13_s = download(layer.w13_weight_scale(), static_cast<std::size_t>(e * 2 * i * w13_ss));
    w2_s = download(layer.w2_weight_scale(), static_cast<std::size_t>(e * h * w2_ss));
    b13 = random_values(static_cast<std::size_t>(e * 2 * i), 3, 0.5f, dt);
    b2 = random_values(static_cast<std::size_t>(e * h), 4, 0.5f, dt);
    d_b13 = runtime::DeviceBuffer(b13.size() * 2);
    d_b2 = runtime::DeviceBuffer(b2.size() * 2);
    d_b13.upload(b13.data(), d_b13.size());
    d_b2.upload(b2.data(), d_b2.size());
    b13_view = TensorView::contiguous(d_b13.get(), dt, {e, 2 * i});
    b2_view = TensorView::contiguous(d_b2.get(), dt, {e, h});
  }

  double to_double(std::uint16_t bits) const { return testing::to_double(dtype, bits); }

  // The reference output row of one token and a bound per element.
  void reference_token(const std::uint16_t* x, const std::int32_t* ids, const float* weights, const std::int32_t* map,
                       bool bias, std::vector<double>& out, std::vector<double>& bound) const {
    const reference::MoeWeights w{m.experts, m.global_experts, m.hidden, m.inter, m.top_k, dtype,
                                  w13_q.data(), w13_s.data(), w13_ss, w2_q.data(), w2_s.data(), w2_ss,
                                  bias ? b13.data() : nullptr, bias ? b2.data() : nullptr};
    reference::moe_forward_token(w, x, ids, weights, map, out, bound);
  }
};

struct Routing {
  std::vector<float> logits;  // [T, E_global] (router path)
  std::vector<std::int32_t> ids;
  std::vector<float> weights;
};

class MoeGpu : public GpuTest {
 protected:
  // Runs apply and checks sampled tokens (all when T <= 64) against the reference. Returns the output bits.
  std::vector<std::uint16_t> run_and_check(const MoeLayer& l, std::int64_t t, bool router, bool renormalize,
                                           const std::vector<std::int32_t>* map, bool bias, std::uint64_t seed,
                                           Routing* forced = nullptr) {
    SCOPED_TRACE(fmt::format("{} T={} router={} renormalize={} map={} bias={}", l.m.name, t, router, renormalize,
                             map != nullptr, bias));
    const std::int64_t h = l.m.hidden, k = l.m.top_k, eg = l.m.global_experts;
    const auto x = random_values(static_cast<std::size_t>(t * h), seed, 1.f, l.dtype);
    Routing routing;
    if (forced) {
      routing = *forced;
    } else {
      const auto logit_bits = random_values(static_cast<std::size_t>(t * eg), seed + 1, 2.f, DType::bf16);
      routing.logits.resize(logit_bits.size());
      for (std::size_t n = 0; n < logit_bits.size(); ++n) routing.logits[n] = reference::bf16_to_float(logit_bits[n]);
    }
    if (router || !forced) {
      const reference::TopK top = reference::route_topk(routing.logits.data(), t, static_cast<int>(eg), eg,
                                                        static_cast<int>(k), renormalize);
      if (router || routing.ids.empty()) {
        routing.ids = top.ids;
        routing.weights = top.weights;
      }
    }
    runtime::DeviceBuffer d_x(x.size() * 2), d_out(x.size() * 2), d_logits(std::max<std::size_t>(4, routing.logits.size() * 4)),
        d_ids(routing.ids.size() * 4), d_w(routing.weights.size() * 4), d_map(map ? map->size() * 4 : 4);
    d_x.upload(x.data(), d_x.size());
    if (!routing.logits.empty()) d_logits.upload(routing.logits.data(), routing.logits.size() * 4);
    d_ids.upload(routing.ids.data(), d_ids.size());
    d_w.upload(routing.weights.data(), d_w.size());
    if (map) d_map.upload(map->data(), d_map.size());
    d_out.fill(0xFF, stream());
    const TensorView logits_view = TensorView::contiguous(d_logits.get(), DType::f32, {t, eg});
    const TensorView ids_view = TensorView::contiguous(d_ids.get(), DType::i32, {t, k});
    const TensorView w_view = TensorView::contiguous(d_w.get(), DType::f32, {t, k});
    const TensorView map_view = TensorView::contiguous(d_map.get(), DType::i32, {eg});
    Mxfp8MoE::Inputs in{TensorView::contiguous(d_x.get(), l.dtype, {t, h})};
    if (router) {
      in.router_logits = &logits_view;
      in.renormalize = renormalize;
    } else {
      in.topk_ids = &ids_view;
      in.topk_weights = &w_view;
    }
    in.expert_map = map ? &map_view : nullptr;
    in.w13_bias = bias ? &l.b13_view : nullptr;
    in.w2_bias = bias ? &l.b2_view : nullptr;
    const TensorView out_view = TensorView::contiguous(d_out.get(), l.dtype, {t, h});
    l.layer.apply(in, out_view, stream());
    MXJIT_CU(cuStreamSynchronize, stream());
    std::vector<std::uint16_t> out(x.size());
    d_out.download(out.data(), out.size() * 2);

    // Repeat runs are bit-identical; where one is not, which elements moved and by how much (the
    // reference below judges the first run, and a repeat that differs is judged too).
    std::vector<std::uint16_t> differing;
    for (int repeat = 1; repeat <= 3 && differing.empty(); ++repeat) {
      l.layer.apply(in, out_view, stream());
      MXJIT_CU(cuStreamSynchronize, stream());
      std::vector<std::uint16_t> again(x.size());
      d_out.download(again.data(), again.size() * 2);
      std::int64_t count = 0;
      std::string where;
      for (std::size_t i = 0; i < out.size(); ++i)
        if (again[i] != out[i] && count++ < 4)
          where += fmt::format(" out[{}, {}] {} then {};", i / h, i % h, l.to_double(out[i]), l.to_double(again[i]));
      EXPECT_EQ(count, 0) << "apply " << repeat + 1 << " gave other bits than the first in " << count << " elements:"
                          << where;
      if (count > 0) differing = std::move(again);
    }

    std::vector<std::int64_t> tokens;
    std::mt19937_64 rng(seed);
    if (t <= 64) {
      for (std::int64_t i = 0; i < t; ++i) tokens.push_back(i);
    } else {
      std::uniform_int_distribution<std::int64_t> pick(1, t - 2);
      tokens = {0, t - 1};
      for (int i = 0; i < 30; ++i) tokens.push_back(pick(rng));
    }
    std::vector<std::vector<double>> ref(tokens.size()), bound(tokens.size());
    parallel_for(tokens.size(), [&](std::size_t n) {
      const std::int64_t tok = tokens[n];
      l.reference_token(&x[tok * h], &routing.ids[tok * k], &routing.weights[tok * k], map ? map->data() : nullptr,
                        bias, ref[n], bound[n]);
    });
    auto check_against_reference = [&](const std::vector<std::uint16_t>& result, const char* which) {
      std::int64_t failures = 0;
      double worst = 0;
      std::string first;
      for (std::size_t n = 0; n < tokens.size(); ++n)
        for (std::int64_t c = 0; c < h; ++c) {
          const double got = l.to_double(result[tokens[n] * h + c]);
          const double ratio = std::isfinite(got) ? std::fabs(got - ref[n][c]) / bound[n][c] : INFINITY;
          worst = std::max(worst, ratio);
          if (!(ratio <= 1.0) && failures++ == 0)
            first = fmt::format("out[{}, {}] = {} but reference {} (bound {})", tokens[n], c, got, ref[n][c], bound[n][c]);
        }
      EXPECT_EQ(failures, 0) << which << ": " << first << " (" << failures << " failures)";
      return worst;
    };
    const double worst = check_against_reference(out, "the first apply");
    if (!differing.empty()) check_against_reference(differing, "the repeat that differed");
    ::testing::Test::RecordProperty(fmt::format("worst_ratio_{}_T{}", l.m.name, t), std::to_string(worst));
    return out;
  }
};

class MoeModels : public MoeGpu, public ::testing::WithParamInterface<MoeModel> {};

TEST_P(MoeModels, EveryTokenCountAgainstTheReference) {
  const MoeModel m = GetParam();
  MoeLayer l(m, DType::bf16, 8192, stream());
  // An expert-parallel shard: this rank holds global experts [32, 64) of 256.
  std::vector<std::int32_t> map;
  if (m.global_experts != m.experts) {
    map.assign(static_cast<std::size_t>(m.global_experts), -1);
    for (std::int64_t e = 0; e < m.experts; ++e) map[static_cast<std::size_t>(m.experts + e)] = static_cast<std::int32_t>(e);
  }
  std::uint64_t seed = 10;
  for (std::int64_t t : {1, 3, 64, 1000, 8192})
    run_and_check(l, t, /*router=*/true, /*renormalize=*/t % 2 == 0, map.empty() ? nullptr : &map, /*bias=*/t == 64, seed += 7);
}

INSTANTIATE_TEST_SUITE_P(Models, MoeModels, ::testing::Values(qwen3, mixtral, deepseek_ep),
                         [](const auto& info) { return std::string(info.param.name); });

// Mixtral's decode token counts alone, on a layer sized for them: the grouped tma_decode tiles with
// stream-K shares that cut experts' tiles (run_and_check repeats each apply and compares the bits).
TEST_F(MoeGpu, MixtralDecodeRepeatsBitIdentical) {
  MoeLayer l(mixtral, DType::bf16, 64, stream());
  std::uint64_t seed = 500;
  for (std::int64_t t : {3, 64, 3, 64})
    run_and_check(l, t, /*router=*/true, /*renormalize=*/false, nullptr, /*bias=*/false, seed += 7);
}

TEST_F(MoeGpu, Fp16EngineRoutingSkewAndAnExpertMapDroppingHalf) {
  MoeLayer l({"qwen3_fp16", 128, 128, 2048, 768, 8}, DType::fp16, 512, stream());
  const std::int64_t t = 300, k = 8;
  // Every pair on expert 5 (the others get no rows), weights from the engine.
  Routing skew;
  skew.ids.assign(static_cast<std::size_t>(t * k), 5);
  for (std::int64_t i = 0; i < t * k; ++i) skew.weights.push_back(0.05f + 0.1f * static_cast<float>(i % k));
  run_and_check(l, t, /*router=*/false, false, nullptr, /*bias=*/true, 100, &skew);
  // Odd experts live on another rank: their pairs drop out, some tokens lose all of theirs.
  std::vector<std::int32_t> map(128);
  for (int e = 0; e < 128; ++e) map[e] = e % 2 == 0 ? e : -1;
  run_and_check(l, t, /*router=*/true, /*renormalize=*/true, &map, /*bias=*/false, 200);
}

TEST_F(MoeGpu, CapturedInACudaGraphAndReplayedWithNewInputs) {
  MoeLayer l({"small", 16, 16, 256, 128, 4}, DType::bf16, 64, stream());
  const std::int64_t t = 37, h = 256, e = 16;
  runtime::DeviceBuffer d_x(t * h * 2), d_logits(t * e * 4), d_out(t * h * 2), d_out2(t * h * 2);
  const TensorView x_view = TensorView::contiguous(d_x.get(), DType::bf16, {t, h});
  const TensorView logits_view = TensorView::contiguous(d_logits.get(), DType::f32, {t, e});
  Mxfp8MoE::Inputs in{x_view, &logits_view};
  auto upload = [&](std::uint64_t seed) {
    const auto x = random_values(static_cast<std::size_t>(t * h), seed, 1.f, DType::bf16);
    std::vector<float> logits(static_cast<std::size_t>(t * e));
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal;
    for (float& v : logits) v = normal(rng);
    d_x.upload(x.data(), d_x.size());
    d_logits.upload(logits.data(), d_logits.size());
  };
  CUgraph graph{};
  CUgraphExec exec{};
  MXJIT_CU(cuStreamBeginCapture, stream(), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  l.layer.apply(in, TensorView::contiguous(d_out.get(), DType::bf16, {t, h}), stream());
  MXJIT_CU(cuStreamEndCapture, stream(), &graph);
  MXJIT_CU(cuGraphInstantiateWithFlags, &exec, graph, 0);
  for (std::uint64_t seed : {1, 2}) {
    upload(seed);
    d_out.fill(0xFF, stream());
    MXJIT_CU(cuGraphLaunch, exec, stream());
    l.layer.apply(in, TensorView::contiguous(d_out2.get(), DType::bf16, {t, h}), stream());
    MXJIT_CU(cuStreamSynchronize, stream());
    std::vector<std::uint16_t> replayed(t * h), direct(t * h);
    d_out.download(replayed.data(), replayed.size() * 2);
    d_out2.download(direct.data(), direct.size() * 2);
    EXPECT_TRUE(replayed == direct) << "graph replay " << seed << " differs from a direct apply";
  }
  MXJIT_CU(cuGraphExecDestroy, exec);
  MXJIT_CU(cuGraphDestroy, graph);
}

TEST(MoeArgs, CreateWeightsRejectsBadShapes) {
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [] { Mxfp8MoE(8, 2, 4010, 1024, DType::bf16); }),
                  "MXFP8 requires hidden_size (H) to be divisible by 32, got hidden_size = 4010");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [] { Mxfp8MoE(8, 2, 4096, 1000, DType::bf16); }),
                  "MXFP8 requires intermediate_size_per_partition (I) to be divisible by 32");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [] { Mxfp8MoE(8, 9, 4096, 1024, DType::bf16); }),
                  "top_k = 9 must be within [1, min(global experts = 8, 32)]");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [] { Mxfp8MoE(0, 1, 4096, 1024, DType::bf16); }),
                  "num_experts = 0");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument,
                                [] { Mxfp8MoE(32, 8, 7168, 2048, DType::bf16, {.global_num_experts = 16}); }),
                  "global_num_experts = 16 must be within [num_experts = 32, 512]");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [] { Mxfp8MoE(8, 2, 4096, 1024, DType::f32); }),
                  "params_dtype must be bf16 or fp16, got f32");
}

TEST_F(MoeGpu, ApplyRejectsBadInputs) {
  Mxfp8MoE layer(4, 2, 64, 32, DType::bf16, {.max_tokens = 8});
  runtime::DeviceBuffer buf(1 << 16);
  const TensorView x = TensorView::contiguous(buf.get(), DType::bf16, {4, 64});
  const TensorView logits = TensorView::contiguous(buf.get(), DType::f32, {4, 4});
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] { layer.apply({x, &logits}, x, stream()); }),
                  "before process_weights_after_loading()");
  layer.process_weights_after_loading(stream());
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] { layer.apply({x}, x, stream()); }),
                  "pass either router_logits or both topk_ids and topk_weights");
  const TensorView big = TensorView::contiguous(buf.get(), DType::bf16, {9, 64});
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] { layer.apply({big, &logits}, big, stream()); }),
                  "x has 9 tokens; this layer accepts 1 to max_tokens = 8");
  const TensorView wrong_logits = TensorView::contiguous(buf.get(), DType::f32, {4, 5});
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] { layer.apply({x, &wrong_logits}, x, stream()); }),
                  "router_logits has shape [4, 5], expected [4, 4]");
  const TensorView ids = TensorView::contiguous(buf.get(), DType::i32, {4, 3});
  Mxfp8MoE::Inputs bad_ids{x};
  bad_ids.topk_ids = &ids;
  bad_ids.topk_weights = &logits;
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] { layer.apply(bad_ids, x, stream()); }),
                  "topk_ids and topk_weights must be contiguous [4, 2]");
}

}  // namespace
}  // namespace mxjit::testing
