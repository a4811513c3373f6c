// MoE routing (softmax + top-k) and grouping by expert on the GPU, against the CPU references.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "device_vectors.hpp"
#include "gpu_fixture.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/reference/moe_reference.hpp"
#include "runtime/driver_api.hpp"
#include "test_data.hpp"

namespace mxjit::testing {
namespace {

// ---- route_topk -------------------------------------------------------------------------------

struct RouteCase {
  DType dtype;
  int experts, top_k;
  bool renormalize;
  std::int64_t tokens;
  std::int64_t row_pad = 0;  // extra logits per row (strided rows)
};

std::string describe(const RouteCase& c) {
  return fmt::format("{} logits, E={} k={} renormalize={} T={} row_pad={}", to_string(c.dtype), c.experts, c.top_k,
                     c.renormalize, c.tokens, c.row_pad);
}

// Logits as the device sees them (raw bytes of `dtype`) and as the reference sees them (exact floats).
struct Logits {
  std::vector<std::uint8_t> bytes;
  std::vector<float> values;
};

Logits encode(DType dtype, const std::vector<float>& x) {
  Logits l;
  l.bytes.resize(x.size() * element_size(dtype));
  l.values.resize(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (dtype == DType::f32) {
      l.values[i] = x[i];
      std::memcpy(&l.bytes[4 * i], &x[i], 4);
      continue;
    }
    const std::uint16_t bits = dtype == DType::bf16 ? reference::float_to_bf16(x[i]) : reference::float_to_fp16(x[i]);
    l.values[i] = dtype == DType::bf16 ? reference::bf16_to_float(bits) : reference::fp16_to_float(bits);
    std::memcpy(&l.bytes[2 * i], &bits, 2);
  }
  return l;
}

// Router logits: N(0, 2), and in every 7th token the top logit repeated at another expert (an exact tie).
std::vector<float> random_logits(const RouteCase& c, std::mt19937_64& rng) {
  const std::int64_t stride = c.experts + c.row_pad;
  std::normal_distribution<float> normal(0.f, 2.f);
  std::uniform_int_distribution<int> expert(0, c.experts - 1);
  std::vector<float> x(static_cast<std::size_t>(c.tokens * stride));
  for (float& v : x) v = normal(rng);
  for (std::int64_t t = 0; t < c.tokens; t += 7) {
    float* row = &x[t * stride];
    row[expert(rng)] = *std::max_element(row, row + c.experts);
  }
  return x;
}

// The kernel's fp32 weight against the double reference, relative, in units of u = 2^-24 (one fp32
// rounding): expf (2 ulp = 4u) on the weight's own term and on the terms of the sum; the sum's chain
// of additions (ceil(E/32) per lane, then 5 butterfly levels); the division; renormalization's 5
// additions and division; the rounding of x - max (|x - max| u, in the term and the sum: exact for
// most 16-bit logits, not for tiny ones); the reference's rounding to float. Never below the 1e-6
// the design asks for.
double weight_tolerance(const RouteCase& c, double max_gap) {
  const double units = 4 + 4 + ((c.experts + 31) / 32 + 5) + 1 + (c.renormalize ? 6 : 0) + 2 * max_gap + 1;
  return std::max(1e-6, units * 0x1p-24);
}

// Runs route_topk and compares with the reference: ids exactly (the ranking is exact on both sides:
// by logit, ties to the lower id), weights within weight_tolerance. With check_weights off only the
// ids are compared (NaN/Inf rows).
void check_route(const RouteCase& c, const std::vector<float>& x, CUstream stream, bool check_weights = true) {
  const std::int64_t stride = c.experts + c.row_pad;
  const Logits logits = encode(c.dtype, x);
  const reference::TopK want =
      reference::route_topk(logits.values.data(), c.tokens, c.experts, stride, c.top_k, c.renormalize);

  const runtime::DeviceBuffer in = to_device(logits.bytes);
  runtime::DeviceBuffer ids(want.ids.size() * 4 + 16), weights(want.weights.size() * 4 + 16);
  ids.fill(0xFF, stream);
  weights.fill(0xFF, stream);
  TensorView in_view = TensorView::contiguous(in.get(), c.dtype, {c.tokens, c.experts});
  in_view.strides[0] = stride;
  ops::launch_route_topk(in_view, c.top_k, c.renormalize,
                         TensorView::contiguous(ids.get(), DType::i32, {c.tokens, c.top_k}),
                         TensorView::contiguous(weights.get(), DType::f32, {c.tokens, c.top_k}), stream);
  MXJIT_CU(cuStreamSynchronize, stream);
  const auto got_ids = from_device<std::int32_t>(ids, want.ids.size());
  const auto got_w = from_device<float>(weights, want.weights.size());

  int reported = 0;
  for (std::int64_t t = 0; t < c.tokens && reported < 8; ++t) {
    const float* row = &logits.values[t * stride];
    const double top = *std::max_element(row, row + c.experts);
    double max_gap = 0;
    for (int e = 0; e < c.experts; ++e) max_gap = std::max(max_gap, top - row[e]);
    const double tolerance = weight_tolerance(c, max_gap);
    for (int j = 0; j < c.top_k; ++j) {
      const std::size_t i = static_cast<std::size_t>(t * c.top_k + j);
      if (got_ids[i] != want.ids[i]) {
        ADD_FAILURE() << fmt::format("token {} slot {}: expert {}, want {} (logits {} and {})", t, j, got_ids[i],
                                     want.ids[i], got_ids[i] >= 0 && got_ids[i] < c.experts ? row[got_ids[i]] : NAN,
                                     row[want.ids[i]]);
        ++reported;
      } else if (check_weights && !(std::fabs(got_w[i] - want.weights[i]) <= tolerance * want.weights[i])) {
        ADD_FAILURE() << fmt::format("token {} slot {} (expert {}): weight {:.9g}, want {:.9g} (relative error {:.3g}, "
                                     "tolerance {:.3g})",
                                     t, j, got_ids[i], got_w[i], want.weights[i],
                                     std::fabs(got_w[i] / want.weights[i] - 1), tolerance);
        ++reported;
      }
    }
  }
}

class RouteTopkGpu : public GpuTest, public ::testing::WithParamInterface<DType> {};

TEST_P(RouteTopkGpu, RandomLogitsEveryExpertCountTopKAndRenormalization) {
  for (int experts : {8, 128, 256})
    for (int top_k : {1, 2, 8})
      for (bool renormalize : {false, true}) {
        const RouteCase c{GetParam(), experts, top_k, renormalize, 1000};
        const std::uint64_t seed = fresh_seed();
        SCOPED_TRACE(describe(c) + fmt::format(" seed={}", seed));
        std::mt19937_64 rng(seed);
        check_route(c, random_logits(c, rng), stream());
      }
}

TEST_P(RouteTopkGpu, OddSizesLargestExpertCountAndTopK) {
  const RouteCase cases[] = {
      {GetParam(), 1, 1, true, 3},       {GetParam(), 33, 5, false, 17, 3},  {GetParam(), 512, 32, true, 301},
      {GetParam(), 512, 8, false, 64, 8}, {GetParam(), 64, 64 / 2, true, 1}, {GetParam(), 300, 3, false, 129},
  };
  for (const RouteCase& c : cases) {
    const std::uint64_t seed = fresh_seed();
    SCOPED_TRACE(describe(c) + fmt::format(" seed={}", seed));
    std::mt19937_64 rng(seed);
    check_route(c, random_logits(c, rng), stream());
  }
}

TEST_P(RouteTopkGpu, EqualLogitsTakeLowerIdsAndNonFiniteLogitsRankAsTheReference) {
  // All equal: ids 0..k-1, weights 1/E.
  const RouteCase flat{GetParam(), 16, 4, false, 2};
  check_route(flat, std::vector<float>(32, 0.5f), stream());
  // +-0 tie, NaN (ranks first), +-Inf: only the ids are defined.
  const RouteCase odd{GetParam(), 8, 3, true, 3};
  const float nan = NAN, inf = INFINITY;
  check_route(odd,
              {-0.f, 0.f, -1.f, -2.f, -3.f, -4.f, -5.f, -6.f,  // -0 and +0 tie: experts 0 then 1
               1.f, nan, 2.f, nan, -inf, 3.f, 0.f, 0.f,        // NaN at 1 and 3 rank first, then 3.0
               -inf, -inf, inf, -inf, -inf, -inf, 1.f, -inf},  // Inf, then 1.0, then -Inf ties
              stream(), false);
}

INSTANTIATE_TEST_SUITE_P(LogitTypes, RouteTopkGpu, ::testing::Values(DType::bf16, DType::fp16, DType::f32),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// ---- group_by_expert --------------------------------------------------------------------------

struct GroupProblem {
  std::int64_t tokens;
  int top_k;
  std::vector<std::int32_t> ids;  // [tokens * top_k]
  std::vector<std::int32_t> map;  // empty: no map
  int local_experts;
};

std::string describe(const GroupProblem& g) {
  return fmt::format("T={} k={} local_experts={} map={}", g.tokens, g.top_k, g.local_experts,
                     g.map.empty() ? std::string("none") : fmt::format("[{}]", g.map.size()));
}

GroupProblem uniform_ids(std::int64_t tokens, int top_k, int experts, std::mt19937_64& rng) {
  GroupProblem g{tokens, top_k, std::vector<std::int32_t>(static_cast<std::size_t>(tokens * top_k)), {}, experts};
  std::uniform_int_distribution<int> expert(0, experts - 1);
  for (std::int32_t& id : g.ids) id = expert(rng);
  return g;
}

// Device buffers of one grouping; the outputs poisoned before each launch.
struct GroupBuffers {
  runtime::DeviceBuffer ids, map, offsets, pair_row, row_token;
  TensorView ids_view, map_view;

  explicit GroupBuffers(const GroupProblem& g)
      : ids(to_device(g.ids)),
        map(to_device(g.map)),
        offsets(4 * (g.local_experts + 1)),
        pair_row(std::max<std::size_t>(4 * g.ids.size(), 16)),
        row_token(std::max<std::size_t>(4 * g.ids.size(), 16)),
        ids_view(TensorView::contiguous(ids.get(), DType::i32, {g.tokens, g.top_k})),
        map_view(TensorView::contiguous(map.get(), DType::i32, {static_cast<std::int64_t>(g.map.size())})) {}

  ops::MoeGrouping grouping() const { return {offsets.get(), pair_row.get(), row_token.get()}; }
  void poison(CUstream stream) {
    offsets.fill(0xAB, stream);
    pair_row.fill(0xAB, stream);
    row_token.fill(0xAB, stream);
  }
  void launch(const GroupProblem& g, CUstream stream) const {
    ops::launch_group_by_expert(ids_view, g.map.empty() ? nullptr : &map_view, g.local_experts, grouping(), stream);
  }
  // The grouping on the device checked against the reference; "" when it holds.
  std::string check(const GroupProblem& g) const {
    const auto got_offsets = from_device<std::int32_t>(offsets, g.local_experts + 1);
    return reference::check_grouping(g.ids.data(), static_cast<std::int64_t>(g.ids.size()), g.top_k,
                                     g.map.empty() ? nullptr : g.map.data(), static_cast<std::int64_t>(g.map.size()),
                                     g.local_experts, got_offsets, from_device<std::int32_t>(pair_row, g.ids.size()),
                                     from_device<std::int32_t>(row_token, g.ids.size()));
  }
};

void check_group(const GroupProblem& g, CUstream stream) {
  SCOPED_TRACE(describe(g));
  GroupBuffers buffers(g);
  buffers.poison(stream);
  buffers.launch(g, stream);
  MXJIT_CU(cuStreamSynchronize, stream);
  EXPECT_EQ(buffers.check(g), "");
}

using GroupByExpertGpu = GpuTest;

TEST_F(GroupByExpertGpu, UniformRoutingAtManySizes) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  std::mt19937_64 rng(seed);
  struct Size {
    std::int64_t tokens;
    int top_k, experts;
  };
  for (const Size& s : {Size{1, 1, 8}, Size{37, 2, 8}, Size{1, 8, 256}, Size{1000, 8, 128}, Size{4096, 8, 256},
                        Size{16384, 8, 1024}, Size{100, 1, 1}, Size{3000, 6, 1000}})
    check_group(uniform_ids(s.tokens, s.top_k, s.experts, rng), stream());
}

TEST_F(GroupByExpertGpu, ExpertMapDroppingHalfTheExperts) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  std::mt19937_64 rng(seed);
  for (int rank : {0, 1}) {
    GroupProblem g = uniform_ids(2000, 8, 256, rng);
    g.local_experts = 128;
    g.map.resize(256);
    for (int e = 0; e < 256; ++e) g.map[e] = e % 2 == rank ? e / 2 : -1;  // interleaved placement
    check_group(g, stream());
  }
}

TEST_F(GroupByExpertGpu, SkewedRoutingEveryPairOnOneExpert) {
  GroupProblem g{16384, 8, std::vector<std::int32_t>(16384 * 8, 5), {}, 256};
  check_group(g, stream());
  g.local_experts = 6;  // the busy expert is the last one
  check_group(g, stream());
}

TEST_F(GroupByExpertGpu, OutOfRangeIdsAndMapEntriesAreDropped) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  std::mt19937_64 rng(seed);
  GroupProblem g = uniform_ids(3000, 4, 64, rng);
  std::uniform_int_distribution<int> wild(-3, 64 + 3);
  for (std::size_t i = 0; i < g.ids.size(); ++i) g.ids[i] = i % 97 == 0 ? INT_MIN : i % 89 == 0 ? INT_MAX : wild(rng);
  check_group(g, stream());  // no map: ids outside [0, 64) dropped
  g.map.resize(64);
  std::uniform_int_distribution<int> entry(-9, 40);  // local ids below 32 kept; -1, other negatives and >= 32 dropped
  for (std::int32_t& m : g.map) m = entry(rng);
  g.local_experts = 32;
  check_group(g, stream());
}

TEST_F(GroupByExpertGpu, LargestProblemOneMillionPairs) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  std::mt19937_64 rng(seed);
  check_group(uniform_ids(131072, 8, 1024, rng), stream());  // T * k = 2^20
}

TEST_F(GroupByExpertGpu, NoTokensStillWritesZeroOffsets) {
  GroupProblem g{0, 8, {}, {}, 16};
  GroupBuffers buffers(g);
  buffers.poison(stream());
  buffers.launch(g, stream());
  MXJIT_CU(cuStreamSynchronize, stream());
  EXPECT_EQ(from_device<std::int32_t>(buffers.offsets, 17), std::vector<std::int32_t>(17, 0));
}

// A captured grouping replayed on new ids: everything it reads back it wrote itself in that replay.
TEST_F(GroupByExpertGpu, CudaGraphReplaysSeeNoStaleState) {
  const std::uint64_t seed = fresh_seed();
  SCOPED_TRACE(fmt::format("seed={}", seed));
  std::mt19937_64 rng(seed);
  GroupProblem g = uniform_ids(512, 8, 64, rng);
  g.map.resize(128);
  for (int e = 0; e < 128; ++e) g.map[e] = e < 64 ? e : -1;  // global ids 64.. live elsewhere
  GroupBuffers buffers(g);
  buffers.launch(g, stream());  // compiles and loads outside the capture
  MXJIT_CU(cuStreamSynchronize, stream());

  CUgraph graph{};
  MXJIT_CU(cuStreamBeginCapture, stream(), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
  buffers.launch(g, stream());
  MXJIT_CU(cuStreamEndCapture, stream(), &graph);
  CUgraphExec exec{};
  MXJIT_CU(cuGraphInstantiateWithFlags, &exec, graph, 0);
  std::uniform_int_distribution<int> global(0, 127);
  for (int replay = 0; replay < 3; ++replay) {
    SCOPED_TRACE(fmt::format("replay {}", replay));
    for (std::int32_t& id : g.ids) id = replay == 1 ? 7 : global(rng);  // replay 1: all on one expert
    buffers.ids.upload(g.ids.data(), 4 * g.ids.size());
    std::uint8_t landed;
    buffers.ids.download(&landed, 1);
    buffers.poison(stream());
    MXJIT_CU(cuGraphLaunch, exec, stream());
    MXJIT_CU(cuStreamSynchronize, stream());
    EXPECT_EQ(buffers.check(g), "");
  }
  MXJIT_CU(cuGraphExecDestroy, exec);
  MXJIT_CU(cuGraphDestroy, graph);
}

}  // namespace
}  // namespace mxjit::testing
