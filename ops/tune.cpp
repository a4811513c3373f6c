// mxjit::tune_gemm: the shapes to tune, what the database already holds, progress, and saving each
// winner as soon as it is known.
#include "mxjit/tune.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "jit/runtime_state.hpp"
#include "jit/tuning_db.hpp"
#include "mxjit/error.hpp"
#include "ops/tensor_checks.hpp"
#include "ops/tune.hpp"
#include "runtime/device.hpp"

namespace mxjit {
namespace {

struct Job {
  jit::TuningKey key;
  std::int64_t m = 0;  // the token count measured for the key's bucket
  std::vector<int> candidates;
};

// One job per (bucket, n, k), in the order given: shapes outer, token counts inner.
std::vector<Job> jobs_for(const TuneOptions& o, ops::GemmFamilies families) {
  std::vector<Job> jobs;
  std::map<std::int64_t, std::int64_t> largest_in_bucket;
  for (std::int64_t m : o.tokens) {
    std::int64_t& largest = largest_in_bucket[jit::TuningKey::bucket_of(m)];
    largest = std::max(largest, m);
  }
  for (const TuneShape& s : o.shapes)
    for (std::int64_t m : o.tokens) {
      const jit::TuningKey key{jit::TuningKey::bucket_of(m), s.n, s.k, o.out};
      if (largest_in_bucket.at(key.m_bucket) != m ||
          std::any_of(jobs.begin(), jobs.end(), [&](const Job& j) { return j.key == key; }))
        continue;
      jobs.push_back({key, m, ops::gemm_tune_candidates(families, m)});
    }
  return jobs;
}

}  // namespace

void check_tune_options(const TuneOptions& o) {
  for (const TuneShape& s : o.shapes)
    if (s.n < 1 || s.n > (1 << 30) || s.k < 32 || s.k > (1 << 30) || s.k % 32 != 0)
      ops::invalid_argument(fmt::format("tune: shape N = {}, K = {} is not an MXFP8 GEMM: need 1 <= N <= 2^30 and K a "
                                        "multiple of 32 in [32, 2^30]",
                                        s.n, s.k));
  for (std::int64_t m : o.tokens)
    if (m < 1 || m > (1 << 30))
      ops::invalid_argument(fmt::format("tune: token count {} is outside [1, 2^30]", m));
  if (o.out != DType::bf16 && o.out != DType::fp16)
    ops::invalid_argument(fmt::format("tune: the output type must be bf16 or fp16, got {}", to_string(o.out)));
  if (!(o.budget_ms > 0))
    ops::invalid_argument(fmt::format("tune: the budget per shape must be positive, got {} ms", o.budget_ms));
}

TuneSummary tune_gemm(const TuneOptions& options, const std::function<void(const TuneEvent&)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  check_tune_options(options);
  if (runtime::device_count() == 0)
    throw Error(ErrorCode::unsupported, "tune_gemm needs a GPU; this machine has none");
  const int device = runtime::current_device();
  const runtime::DeviceInfo& info = runtime::device_info(device);
  const jit::Arch arch = info.arch;
  if (!ops::gemm_family_supported(ops::GemmFamily::mma, arch))
    throw Error(ErrorCode::unsupported, fmt::format("tune_gemm: this GPU ({}) has no MXFP8 GEMM to tune", arch.name()));
  const ops::GemmFamilies families = ops::GemmFamilies::dispatched(arch);
  const jit::TuningEnvironment environment = jit::tuning_environment(device);

  TuneSummary summary;
  summary.db_path = options.db_path.empty() ? jit::RuntimeState::get().config().tuning_db : options.db_path;
  const jit::TuningDb existing = jit::TuningDb::load(summary.db_path, environment);  // corrupt: an error, not a reset
  const std::vector<Job> jobs = jobs_for(options, families);
  TuneEvent event;
  for (const Job& j : jobs) event.total += j.candidates.size();
  auto emit = [&](TuneEvent::Kind kind, const Job& j) {
    event.kind = kind;
    event.m = j.m;
    event.n = j.key.n;
    event.k = j.key.k;
    if (progress) progress(event);
  };

  runtime::Stream stream;
  for (const Job& j : jobs) {
    const std::size_t done_before = event.done;
    event.tile.clear();
    event.error.clear();
    event.microseconds = event.heuristic_microseconds = 0;
    if (const jit::TuningChoice* held = existing.find(j.key); held && !options.force) {
      event.done += j.candidates.size();
      event.tile = held->tile >= 0 && held->tile < static_cast<int>(std::size(ops::gemm_tiles))
                       ? ops::gemm_tiles[held->tile].name()
                       : fmt::format("tile {}", held->tile);
      event.microseconds = held->microseconds;
      ++summary.skipped;
      emit(TuneEvent::Kind::skipped, j);
      continue;
    }
    std::vector<ops::CandidateResult> results;
    try {
      results = ops::tune_gemm_shape(families, j.m, j.key.n, j.key.k, options.out, j.candidates, options.budget_ms,
                                     stream.get(), [&](const ops::CandidateResult& r) {
                                       ++event.done;
                                       event.tile = ops::gemm_tiles[r.tile].name();
                                       event.microseconds = r.microseconds;
                                       event.error = r.error;
                                       emit(TuneEvent::Kind::candidate, j);
                                     });
    } catch (const std::exception& e) {  // no reference output (or no host memory for it): the shape fails
      event.error = e.what();
    }
    event.done = done_before + j.candidates.size();
    const auto best = std::min_element(results.begin(), results.end(), [](const auto& x, const auto& y) {
      return x.microseconds < y.microseconds;
    });
    if (best == results.end() || !std::isfinite(best->microseconds)) {
      event.tile.clear();
      event.microseconds = INFINITY;
      if (!results.empty())
        event.error = fmt::format("none of {} tiles passed; {}: {}", results.size(),
                                  ops::gemm_tiles[results.front().tile].name(), results.front().error);
      ++summary.failed;
      emit(TuneEvent::Kind::failed, j);
      continue;
    }
    jit::TuningDb winner(environment);
    winner.set(j.key, {best->tile, best->microseconds});
    winner.save(summary.db_path);  // merged with the file, so an interrupted run keeps every finished shape
    const int heuristic = ops::gemm_tile_for(families, j.m, j.key.n, j.key.k, info.sm_count, info.smem_per_sm);
    event.tile = ops::gemm_tiles[best->tile].name();
    event.microseconds = best->microseconds;
    event.heuristic_microseconds = INFINITY;
    for (const auto& r : results)
      if (r.tile == heuristic) event.heuristic_microseconds = r.microseconds;
    event.error.clear();
    ++summary.tuned;
    emit(TuneEvent::Kind::tuned, j);
  }
  summary.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace mxjit
