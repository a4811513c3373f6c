// The grouped (per-expert) MXFP8 GEMM on the GPU: every tile, both expert layouts, gathered and direct
// token rows, against the fp64 reference with design.md's bound; rows outside the groups stay poisoned;
// and the same result as the dense GEMM run expert by expert.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <thread>
#include <tuple>

#include <fmt/format.h>

#include "gpu_fixture.hpp"
#include "mxfp8_operands.hpp"
#include "mxjit/gemm.hpp"
#include "mxjit/grouped_gemm.hpp"
#include "ops/grouped_gemm.hpp"
#include "ops/reference/mxfp8_reference.hpp"
#include "test_support.hpp"

namespace mxjit::testing {
namespace {

constexpr std::uint16_t poison = 0xFFFF;  // NaN in bf16 and fp16

struct GroupedCase {
  std::int64_t n, k;
  std::vector<int> counts;    // rows per expert (masked: may exceed the capacity, then clamped)
  std::int64_t capacity = 0;  // 0: contiguous layout
  bool gather = true;         // token rows through a_rows
  DType out = DType::bf16;
  bool bias = false;
  std::vector<int> rows_src;  // the token row of each group row (guard rows included); empty: random
};

// The experts' weights [E, N, K] as one operand of E * N rows.
struct Experts {
  Mxfp8Operand op;
  DeviceOperand dev;
  TensorView w, w_scales;
  Experts(std::int64_t e, std::int64_t n, std::int64_t k, std::mt19937_64& rng)
      : op(Mxfp8Operand::random(e * n, k, rng)), dev(op) {
    w = TensorView::contiguous(dev.q.get(), DType::e4m3, {e, n, k});
    w_scales = TensorView::contiguous(dev.scales.get(), DType::e8m0, {e, n, k / 32});
    w_scales.strides = {n * op.scale_stride, op.scale_stride, 1};
  }
};

// What one run used and produced, for further comparisons.
struct GroupedRun {
  Mxfp8Operand tokens;
  std::unique_ptr<DeviceOperand> d_tokens;
  std::vector<std::int64_t> begin, rows;  // each expert's group rows
  std::vector<std::uint16_t> out;
};

// Runs one grouped GEMM with `tile` (-1: the heuristic) and checks every row of every group, and that
// every other row of out is still poisoned.
GroupedRun run_grouped(const GroupedCase& c, const Experts& experts, int tile, CUstream stream,
                                       std::mt19937_64& rng) {
  const std::int64_t e_count = static_cast<std::int64_t>(c.counts.size());
  SCOPED_TRACE(fmt::format("E={} N={} K={} {} tile={} gather={} out={} bias={}", e_count, c.n, c.k,
                           c.capacity ? "masked" : "contiguous", tile, c.gather, to_string(c.out), c.bias));
  // Group rows: [begin, begin + rows) for each expert.
  std::vector<std::int64_t> begin(e_count), rows(e_count);
  std::int64_t out_rows = 0;
  for (std::int64_t e = 0; e < e_count; ++e) {
    begin[e] = c.capacity ? e * c.capacity : out_rows;
    rows[e] = c.capacity ? std::min<std::int64_t>(c.counts[e], c.capacity) : c.counts[e];
    out_rows = c.capacity ? e_count * c.capacity : out_rows + rows[e];
  }
  const std::int64_t guard = 3, total_rows = out_rows + guard;  // guard rows past the groups
  const std::int64_t token_count = c.gather ? 37 : total_rows;
  GroupedRun run{Mxfp8Operand::random(token_count, c.k, rng), nullptr, begin, rows, {}};
  run.d_tokens = std::make_unique<DeviceOperand>(run.tokens);
  const Mxfp8Operand& tokens = run.tokens;
  const DeviceOperand& d_tokens = *run.d_tokens;
  std::vector<int> src(static_cast<std::size_t>(total_rows));
  std::uniform_int_distribution<int> pick(0, static_cast<int>(token_count) - 1);
  for (std::int64_t r = 0; r < total_rows; ++r) src[r] = c.gather ? pick(rng) : static_cast<int>(r);
  if (!c.rows_src.empty()) src = c.rows_src;

  std::vector<int> group_table;  // offsets [E + 1] or counts [E]
  if (c.capacity) {
    group_table = c.counts;
  } else {
    group_table.push_back(0);
    for (std::int64_t e = 0; e < e_count; ++e) group_table.push_back(group_table.back() + c.counts[e]);
  }
  std::vector<std::uint16_t> bias(static_cast<std::size_t>(e_count * c.n));
  std::normal_distribution<float> normal;
  for (auto& v : bias) v = c.out == DType::bf16 ? reference::float_to_bf16(normal(rng)) : reference::float_to_fp16(normal(rng));

  runtime::DeviceBuffer d_src(src.size() * 4), d_groups(group_table.size() * 4), d_bias(bias.size() * 2),
      d_out(static_cast<std::size_t>(total_rows * c.n * 2));
  d_src.upload(src.data(), d_src.size());
  d_groups.upload(group_table.data(), d_groups.size());
  d_bias.upload(bias.data(), d_bias.size());
  d_out.fill(0xFF, stream);
  const TensorView src_view = TensorView::contiguous(d_src.get(), DType::i32, {total_rows});
  const TensorView groups_view = TensorView::contiguous(d_groups.get(), DType::i32, {static_cast<std::int64_t>(group_table.size())});
  const TensorView bias_view = TensorView::contiguous(d_bias.get(), c.out, {e_count, c.n});
  const TensorView out_view = TensorView::contiguous(d_out.get(), c.out, {total_rows, c.n});
  const ExpertGroups groups = c.capacity ? ExpertGroups::masked(groups_view, c.capacity) : ExpertGroups::contiguous(groups_view);
  // Room for every tile: the sm_90a prefill tiles dequantize the token rows into it first, one per group
  // row. Poisoned: the rows the prepass leaves alone (past the groups) are NaN, and must reach no output.
  runtime::DeviceBuffer workspace(std::max<std::uint64_t>(16, grouped_gemm_mxfp8_workspace_bytes(total_rows, c.k)));
  workspace.fill(0xFF, stream);
  ops::launch_grouped_gemm(d_tokens.q_view, d_tokens.scales_view, c.gather ? &src_view : nullptr, experts.w,
                           experts.w_scales, c.bias ? &bias_view : nullptr, groups, out_view, workspace.get(),
                           workspace.size(), stream, tile);
  MXJIT_CU(cuStreamSynchronize, stream);
  run.out.resize(static_cast<std::size_t>(total_rows * c.n));
  d_out.download(run.out.data(), run.out.size() * 2);
  const std::vector<std::uint16_t>& out = run.out;

  std::vector<int> row_expert(static_cast<std::size_t>(total_rows), -1);
  for (std::int64_t e = 0; e < e_count; ++e)
    for (std::int64_t r = begin[e]; r < begin[e] + rows[e]; ++r) row_expert[r] = static_cast<int>(e);
  std::vector<std::int64_t> checked_rows;
  std::int64_t untouched_broken = 0;
  for (std::int64_t r = 0; r < total_rows; ++r) {
    if (row_expert[r] >= 0) {
      checked_rows.push_back(r);
      continue;
    }
    for (std::int64_t n = 0; n < c.n; ++n) untouched_broken += out[r * c.n + n] != poison;
  }
  EXPECT_EQ(untouched_broken, 0) << "elements outside every group were written";
  const GemmCheck check = check_elements(
      checked_rows.size() * c.n,
      [&](std::size_t i) {
        const std::int64_t r = checked_rows[i / c.n], n = static_cast<std::int64_t>(i % c.n), e = row_expert[r];
        const double b = to_double(c.out, bias[e * c.n + n]);
        return check_gemm_element(&tokens.dequantized[src[r] * c.k], &experts.op.dequantized[(e * c.n + n) * c.k], c.k,
                             c.bias ? &b : nullptr, to_double(c.out, out[r * c.n + n]), c.out);
      },
      [&](std::size_t i) { return fmt::format("out[{}, {}]", checked_rows[i / c.n], i % c.n); });
  EXPECT_EQ(check.failures, 0) << check.first_failure << " (" << check.failures << " of " << check.checked << ")";
  return run;
}

class GroupedGemmGpu : public GpuTest {};

TEST_F(GroupedGemmGpu, EveryTileContiguousWithEmptyExpertsPartialTilesGatherAndBias) {
  std::mt19937_64 rng(101);
  const GroupedCase base{96, 320, {0, 1, 17, 0, 130, 3, 64, 9}};  // N, K off the tile grid
  const Experts experts(static_cast<std::int64_t>(base.counts.size()), base.n, base.k, rng);
  for (int tile = 0; tile < static_cast<int>(std::size(ops::grouped_gemm_tiles)); ++tile)
    for (DType out : {DType::bf16, DType::fp16}) {
      if (!ops::gemm_family_supported(ops::grouped_gemm_tiles[tile].family, runtime::device_info(0).arch)) continue;
      GroupedCase c = base;
      c.out = out;
      c.bias = out == DType::fp16;
      c.gather = tile % 2 == 0;
      run_grouped(c, experts, tile, stream(), rng);
    }
}

// K of one 128-deep tile: two pipeline stages a work tile, fewer than the 11-stage tile's announcement lag,
// and a thousand work tiles, several laps of the persistent grid (the producer waits for the consumers to
// finish the tile before last while the copies of the last are still unannounced).
TEST_F(GroupedGemmGpu, PrefillTilesWithOneKTileWalkSeveralLaps) {
  std::mt19937_64 rng(104);
  const GroupedCase base{4096, 128, {200, 130, 0, 260, 64, 1, 199, 300}};
  const Experts experts(static_cast<std::int64_t>(base.counts.size()), base.n, base.k, rng);
  int tested = 0;
  for (int tile = 0; tile < static_cast<int>(std::size(ops::grouped_gemm_tiles)); ++tile) {
    if (ops::grouped_gemm_tiles[tile].family != ops::GemmFamily::wgmma_bf16 ||
        !ops::gemm_family_supported(ops::GemmFamily::wgmma_bf16, runtime::device_info(0).arch))
      continue;
    SCOPED_TRACE(ops::grouped_gemm_tiles[tile].name());
    run_grouped(base, experts, tile, stream(), rng);
    ++tested;
  }
  if (tested == 0) GTEST_SKIP() << "the bf16 wgmma tiles need sm_90a";
}

TEST_F(GroupedGemmGpu, MaskedLayoutClampsCountsToCapacity) {
  std::mt19937_64 rng(102);
  GroupedCase c{160, 256, {0, 40, 7, 1000}};
  c.capacity = 40;
  const Experts experts(4, c.n, c.k, rng);
  for (int tile : {-1, 1, 4}) run_grouped(c, experts, tile, stream(), rng);
}

TEST_F(GroupedGemmGpu, AllRowsOnOneExpertAndNoRowsAtAll) {
  std::mt19937_64 rng(103);
  const Experts experts(16, 64, 128, rng);
  GroupedCase skewed{64, 128, std::vector<int>(16, 0)};
  skewed.counts[11] = 300;
  run_grouped(skewed, experts, -1, stream(), rng);
  GroupedCase empty{64, 128, std::vector<int>(16, 0)};
  run_grouped(empty, experts, -1, stream(), rng);  // only guard rows: nothing may be written
}

// The grouping's row order inside an expert is not fixed run to run, so the TMA decode tiles must give a
// token the same bits wherever its row lands among its expert's token tiles (their stream-K shares never
// cut the tiles of an expert with several). Experts of 2-25 token tiles, K = 2048 (16 stages a tile), so
// that the shares fall inside tiles; fp16 out, whose finer rounding shows a changed fp32 sum more often.
TEST_F(GroupedGemmGpu, TmaDecodeBitsDoNotDependOnRowOrderWithinAnExpert) {
  if (!ops::gemm_family_supported(ops::GemmFamily::tma_decode, runtime::device_info(0).arch))
    GTEST_SKIP() << "the TMA decode tiles need sm_90";
  std::mt19937_64 rng(106);
  GroupedCase c{1024, 2048, {200, 3, 90, 0, 41}};
  c.out = DType::fp16;
  const std::int64_t experts_n = static_cast<std::int64_t>(c.counts.size()), total_rows = 334 + 3;  // 3 guard rows
  const Experts experts(experts_n, c.n, c.k, rng);
  std::vector<int> forward(static_cast<std::size_t>(total_rows));
  std::uniform_int_distribution<int> pick(0, 36);  // run_grouped's 37 gathered token rows
  for (int& r : forward) r = pick(rng);
  std::vector<int> reversed = forward;
  for (std::int64_t e = 0, begin = 0; e < experts_n; begin += c.counts[e++])
    std::reverse(reversed.begin() + begin, reversed.begin() + begin + c.counts[e]);
  for (int tile = 0; tile < static_cast<int>(std::size(ops::grouped_gemm_tiles)); ++tile) {
    if (ops::grouped_gemm_tiles[tile].family != ops::GemmFamily::tma_decode) continue;
    std::mt19937_64 same_a(7), same_b(7);  // the same tokens and bias in both runs
    c.rows_src = forward;
    const GroupedRun a = run_grouped(c, experts, tile, stream(), same_a);
    c.rows_src = reversed;
    const GroupedRun b = run_grouped(c, experts, tile, stream(), same_b);
    std::int64_t differ = 0;
    for (std::int64_t e = 0; e < experts_n; ++e)
      for (std::int64_t i = 0; i < c.counts[e]; ++i)
        for (std::int64_t n = 0; n < c.n; ++n)
          differ += a.out[(a.begin[e] + i) * c.n + n] != b.out[(a.begin[e] + c.counts[e] - 1 - i) * c.n + n];
    EXPECT_EQ(differ, 0) << "tile " << ops::grouped_gemm_tiles[tile].name() << ": elements whose bits changed with the row order";
  }
}

// Offsets that decrease or run past out: the launch must stay inside out (results there are not
// defined), and the stream must stay healthy. The portable kernel, and on sm_90a the bf16 prefill tile,
// whose prepass reads the offsets too (here the rows in use, offsets[E], are negative).
TEST_F(GroupedGemmGpu, InconsistentOffsetsNeverWriteOutsideOut) {
  std::mt19937_64 rng(104);
  const std::int64_t e = 4, n = 64, k = 64, rows = 60, guard = 16;
  const Experts experts(e, n, k, rng);
  const Mxfp8Operand tokens = Mxfp8Operand::random(rows, k, rng);
  const DeviceOperand d_tokens(tokens);
  const std::vector<int> offsets = {0, 50, 20, 1000, -7};
  runtime::DeviceBuffer d_offsets(offsets.size() * 4), d_out(static_cast<std::size_t>((rows + guard) * n * 2));
  d_offsets.upload(offsets.data(), d_offsets.size());
  runtime::DeviceBuffer workspace(grouped_gemm_mxfp8_workspace_bytes(rows, k));
  std::vector<int> tiles = {-1};
  for (int t = 0; t < static_cast<int>(std::size(ops::grouped_gemm_tiles)); ++t)
    if (ops::grouped_gemm_tiles[t].family == ops::GemmFamily::wgmma_bf16 && ops::grouped_gemm_tiles[t].bn == 256 &&
        ops::gemm_family_supported(ops::GemmFamily::wgmma_bf16, runtime::device_info(0).arch))
      tiles.push_back(t);
  for (int tile : tiles) {
    d_out.fill(0xFF, stream());
    workspace.fill(0xFF, stream());
    ops::launch_grouped_gemm(d_tokens.q_view, d_tokens.scales_view, nullptr, experts.w, experts.w_scales, nullptr,
                             ExpertGroups::contiguous(TensorView::contiguous(d_offsets.get(), DType::i32, {e + 1})),
                             TensorView::contiguous(d_out.get(), DType::bf16, {rows, n}), tile < 0 ? 0 : workspace.get(),
                             tile < 0 ? 0 : workspace.size(), stream(), tile);
    MXJIT_CU(cuStreamSynchronize, stream());
    std::vector<std::uint16_t> out(static_cast<std::size_t>((rows + guard) * n));
    d_out.download(out.data(), out.size() * 2);
    for (std::int64_t i = rows * n; i < (rows + guard) * n; ++i)
      ASSERT_EQ(out[i], poison) << "tile " << tile << ": guard element " << i;
  }
}

// Mixtral-8x7B's decode shapes at T = 3 (top-2: one row on each of six experts) on the grouped TMA tile
// alone, launched again and again on the same inputs: every launch must give the same bits. (The MoE
// layer at these shapes does not always: MoeGpu.MixtralDecodeRepeatsBitIdentical; this tells whether
// the walk and its shared-tile sum alone do.) Operands are random bytes, fp8 NaN codes excluded.
TEST_F(GroupedGemmGpu, TmaDecodeRepeatsBitIdenticalOnMixtralShapes) {
  if (!ops::gemm_family_supported(ops::GemmFamily::tma_decode, runtime::device_info(0).arch))
    GTEST_SKIP() << "the TMA decode tiles need sm_90";
  int tile = -1;
  for (int t = 0; t < static_cast<int>(std::size(ops::grouped_gemm_tiles)); ++t)
    if (ops::grouped_gemm_tiles[t].family == ops::GemmFamily::tma_decode && ops::grouped_gemm_tiles[t].bn == 8) tile = t;
  ASSERT_GE(tile, 0);
  // Bytes from a counter hash, many threads: fp8 with the NaN codes moved off, or scale bytes 118-133.
  auto device_bytes = [](std::size_t count, std::uint64_t seed, bool scales) {
    std::vector<std::uint8_t> host(count);
    std::vector<std::thread> pool;
    const std::size_t workers = 16;
    for (std::size_t w = 0; w < workers; ++w)
      pool.emplace_back([&, w] {
        for (std::size_t i = w; i < count; i += workers) {
          std::uint64_t x = (seed + i) * 0x9E3779B97F4A7C15ull;
          x = (x ^ (x >> 31)) * 0xBF58476D1CE4E5B9ull;
          const auto b = static_cast<std::uint8_t>(x >> 56);
          host[i] = scales ? static_cast<std::uint8_t>(118 + b % 16) : (b & 0x7F) == 0x7F ? b ^ 1 : b;
        }
      });
    for (std::thread& t : pool) t.join();
    runtime::DeviceBuffer d(count);
    d.upload(host.data(), count);
    return d;
  };
  const std::int64_t e_count = 8, rows = 6;
  const std::vector<int> offsets = {0, 1, 1, 2, 3, 4, 4, 5, 6}, row_token = {2, 0, 2, 0, 1, 1};
  runtime::DeviceBuffer d_offsets(offsets.size() * 4), d_rows(row_token.size() * 4);
  d_offsets.upload(offsets.data(), d_offsets.size());
  d_rows.upload(row_token.data(), d_rows.size());
  const TensorView rows_view = TensorView::contiguous(d_rows.get(), DType::i32, {rows});
  const ExpertGroups groups =
      ExpertGroups::contiguous(TensorView::contiguous(d_offsets.get(), DType::i32, {e_count + 1}), 1);
  // h = x . W13^T over 3 gathered tokens, then y = a . W2^T over the 6 group rows.
  for (auto [n, k, tokens] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{14336, 4096, 3}, {4096, 7168, rows}}) {
    SCOPED_TRACE(fmt::format("N = {}, K = {}", n, k));
    const runtime::DeviceBuffer w = device_bytes(static_cast<std::size_t>(e_count * n * k), 1, false);
    const runtime::DeviceBuffer w_s = device_bytes(static_cast<std::size_t>(e_count * n * k / 32), 2, true);
    const runtime::DeviceBuffer a = device_bytes(static_cast<std::size_t>(tokens * k), 3, false);
    const runtime::DeviceBuffer a_s = device_bytes(static_cast<std::size_t>(tokens * k / 32), 4, true);
    runtime::DeviceBuffer out(static_cast<std::size_t>(rows * n * 2)), workspace(grouped_gemm_mxfp8_workspace_bytes(rows, k));
    std::vector<std::uint16_t> first, again(static_cast<std::size_t>(rows * n));
    for (int launch = 0; launch < 8; ++launch) {
      out.fill(0xFF, stream());
      ops::launch_grouped_gemm(TensorView::contiguous(a.get(), DType::e4m3, {tokens, k}),
                               TensorView::contiguous(a_s.get(), DType::e8m0, {tokens, k / 32}),
                               tokens == rows ? nullptr : &rows_view,
                               TensorView::contiguous(w.get(), DType::e4m3, {e_count, n, k}),
                               TensorView::contiguous(w_s.get(), DType::e8m0, {e_count, n, k / 32}), nullptr, groups,
                               TensorView::contiguous(out.get(), DType::bf16, {rows, n}), workspace.get(),
                               workspace.size(), stream(), tile);
      MXJIT_CU(cuStreamSynchronize, stream());
      out.download(again.data(), again.size() * 2);
      if (launch == 0) {
        first = again;
        continue;
      }
      EXPECT_EQ(bits_differing(again, first, n), "") << "launch " << launch + 1 << " vs the first";
    }
  }
}

// A Qwen3-30B-A3B-sized layer at 64 tokens x top-8: the grouped GEMM against gemm_mxfp8 run on each
// expert's gathered rows. Both are held to the reference bound; they must also agree within it.
TEST_F(GroupedGemmGpu, MatchesTheDenseGemmRunPerExpert) {
  std::mt19937_64 rng(105);
  const std::int64_t e_count = 128, n = 1536, k = 2048, pairs = 64 * 8;
  std::vector<int> counts(e_count, 0);
  std::uniform_int_distribution<int> pick(0, static_cast<int>(e_count) - 1);
  for (std::int64_t i = 0; i < pairs; ++i) ++counts[pick(rng)];
  const Experts experts(e_count, n, k, rng);
  GroupedCase c{n, k, counts};
  c.gather = false;
  const GroupedRun run = run_grouped(c, experts, -1, stream(), rng);

  // gemm_mxfp8 on each expert's rows (direct rows: group row r is token row r) and the expert's weight.
  const std::int64_t sp = experts.op.scale_stride;
  runtime::DeviceBuffer d_dense(static_cast<std::size_t>(run.out.size() * 2));
  d_dense.fill(0xFF, stream());
  const std::uint64_t ws_bytes = std::max<std::uint64_t>(16, gemm_mxfp8_workspace_bytes(pairs, n, k));
  runtime::DeviceBuffer workspace(ws_bytes);
  workspace.fill(0, stream());
  for (std::int64_t e = 0; e < e_count; ++e) {
    if (run.rows[e] == 0) continue;
    TensorView a = run.d_tokens->q_view, a_scales = run.d_tokens->scales_view;
    a.data += static_cast<std::uint64_t>(run.begin[e] * k);
    a.shape[0] = run.rows[e];
    a_scales.data += static_cast<std::uint64_t>(run.begin[e] * sp);
    a_scales.shape[0] = run.rows[e];
    TensorView w = TensorView::contiguous(experts.dev.q.get() + static_cast<std::uint64_t>(e * n * k), DType::e4m3, {n, k});
    TensorView w_scales = TensorView::contiguous(experts.dev.scales.get() + static_cast<std::uint64_t>(e * n * sp),
                                                 DType::e8m0, {n, k / 32});
    w_scales.strides = {sp, 1};
    const TensorView out = TensorView::contiguous(d_dense.get() + static_cast<std::uint64_t>(run.begin[e] * n * 2),
                                                  DType::bf16, {run.rows[e], n});
    gemm_mxfp8(a, a_scales, w, w_scales, nullptr, out, workspace.get(), workspace.size(), stream());
  }
  MXJIT_CU(cuStreamSynchronize, stream());
  std::vector<std::uint16_t> dense(run.out.size());
  d_dense.download(dense.data(), dense.size() * 2);
  std::vector<int> row_expert(static_cast<std::size_t>(pairs));
  for (std::int64_t e = 0; e < e_count; ++e)
    for (std::int64_t r = run.begin[e]; r < run.begin[e] + run.rows[e]; ++r) row_expert[r] = static_cast<int>(e);
  // Both sit within the bound of the reference, so they differ by at most twice the bound.
  const GemmCheck agree = check_elements(
      static_cast<std::size_t>(pairs * n),
      [&](std::size_t i) {
        const std::int64_t r = static_cast<std::int64_t>(i) / n, col = static_cast<std::int64_t>(i) % n, e = row_expert[r];
        ElementCheck d = check_gemm_element(&run.tokens.dequantized[r * k], &experts.op.dequantized[(e * n + col) * k], k,
                                       nullptr, to_double(DType::bf16, dense[i]), DType::bf16);
        const double g = to_double(DType::bf16, run.out[i]);
        d.ratio = std::max(d.ratio, std::fabs(g - d.got) / (2 * d.bound));
        return d;
      },
      [&](std::size_t i) { return fmt::format("dense out[{}, {}] (grouped {})", i / n, i % n, to_double(DType::bf16, run.out[i])); });
  EXPECT_EQ(agree.failures, 0) << agree.first_failure << " (" << agree.failures << " of " << agree.checked << ")";
}

TEST(GroupedGemmArgs, ClearErrors) {
  const auto e4m3 = [](std::initializer_list<std::int64_t> shape) { return TensorView::contiguous(0x1000, DType::e4m3, shape); };
  const auto e8m0 = [](std::initializer_list<std::int64_t> shape) { return TensorView::contiguous(0x1000, DType::e8m0, shape); };
  const TensorView offsets = TensorView::contiguous(0x1000, DType::i32, {5});
  const TensorView out = TensorView::contiguous(0x1000, DType::bf16, {10, 64});
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] {
                    grouped_gemm_mxfp8(e4m3({10, 48}), e8m0({10, 1}), nullptr, e4m3({4, 64, 48}), e8m0({4, 64, 1}),
                                       nullptr, ExpertGroups::contiguous(offsets), out, nullptr);
                  }),
                  "K = 48");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] {
                    grouped_gemm_mxfp8(e4m3({10, 128}), e8m0({10, 4}), nullptr, e4m3({4, 64, 32}), e8m0({4, 64, 1}),
                                       nullptr, ExpertGroups::contiguous(offsets), out, nullptr);
                  }),
                  "w has shape [4, 64, 32], expected [E, N, 128]");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] {
                    grouped_gemm_mxfp8(e4m3({10, 128}), e8m0({10, 4}), nullptr, e4m3({2000, 64, 128}),
                                       e8m0({2000, 64, 4}), nullptr, ExpertGroups::contiguous(offsets), out, nullptr);
                  }),
                  "2000 experts; 1 to 1024");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] {
                    grouped_gemm_mxfp8(e4m3({10, 128}), e8m0({10, 4}), nullptr, e4m3({8, 64, 128}), e8m0({8, 64, 4}),
                                       nullptr, ExpertGroups::contiguous(offsets), out, nullptr);
                  }),
                  "expert offsets must be a contiguous 1-D i32 vector of at least 9 entries");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] {
                    grouped_gemm_mxfp8(e4m3({10, 128}), e8m0({10, 4}), nullptr, e4m3({4, 64, 128}), e8m0({4, 64, 4}),
                                       nullptr, ExpertGroups::masked(offsets, 3), out, nullptr);
                  }),
                  "E * capacity = 4 * 3 rows of out, out has 10");
  const TensorView bad_bias = TensorView::contiguous(0x1000, DType::bf16, {64});
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [&] {
                    grouped_gemm_mxfp8(e4m3({10, 128}), e8m0({10, 4}), nullptr, e4m3({4, 64, 128}), e8m0({4, 64, 4}),
                                       &bad_bias, ExpertGroups::contiguous(offsets), out, nullptr);
                  }),
                  "bias must be a contiguous [4, 64] matrix");
}

}  // namespace
}  // namespace mxjit::testing
