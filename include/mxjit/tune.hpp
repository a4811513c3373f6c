// Autotuning: measure every candidate GEMM tile on the GPU in hand for the shapes an engine runs, and
// record the fastest correct one in the tuning database that GEMM dispatch consults (shapes absent
// from it keep the built-in heuristic).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mxjit/types.hpp"

namespace mxjit {

// A weight of a linear layer: out[M, n] = x[M, k] . W[n, k]^T.
struct TuneShape {
  std::int64_t n = 0, k = 0;
};

struct TuneOptions {
  std::vector<TuneShape> shapes;
  // Token counts (M). The database keys by the power of two at or above M, so counts sharing a bucket
  // are tuned once, at the largest of them.
  std::vector<std::int64_t> tokens = {1, 16, 64, 256, 2048, 8192};
  DType out = DType::bf16;  // the GEMM output (the activations' type), bf16 or fp16
  // Benchmark time for one (M, n, k), shared by its candidates. Each candidate runs at least 5 times
  // (at most 100), so a budget too small for a large shape is exceeded. Compiles are not counted.
  double budget_ms = 1000;
  std::string db_path;  // empty: the database dispatch reads (MXJIT_TUNING_DB, else <cache dir>/tuning.json)
  bool force = false;   // also re-tune (M, n, k) the database already holds for this environment
};

struct TuneEvent {
  enum class Kind {
    candidate,  // one tile measured (or failed)
    tuned,      // a shape's winner, now saved in the database
    failed,     // no candidate of a shape passed; nothing saved for it
    skipped,    // already in the database (no `force`)
  };
  Kind kind = Kind::candidate;
  std::int64_t m = 0, n = 0, k = 0;
  std::string tile;  // candidate: the tile measured; tuned, skipped: the winner's; failed: empty
  // candidate: its median microseconds, +inf when it failed; tuned, skipped: the winner's.
  double microseconds = 0;
  // tuned: the median of the tile the built-in heuristic picks (+inf when it failed), for comparison.
  double heuristic_microseconds = 0;
  std::string error;  // candidate, failed: why (empty otherwise)
  // Progress in candidate measurements, over all shapes (a skipped shape counts its candidates).
  std::size_t done = 0, total = 0;
};

struct TuneSummary {
  std::size_t tuned = 0, skipped = 0, failed = 0;
  std::string db_path;
  double wall_ms = 0;
};

// Throws Error(invalid_argument) naming the first bad value: shapes with n < 1 or k not a positive
// multiple of 32, token counts outside [1, 2^30], an output type other than bf16/fp16, a budget <= 0.
void check_tune_options(const TuneOptions& options);

// Tunes every (M, n, k) on the calling thread's current context. For each: random MXFP8 operands
// (random bf16 quantized on the device), the heuristic tile's output as the reference, then every
// candidate tile of the dispatched kernel family that holds M, each checked element by element
// against the reference (|x - ref| <= 2^-6 |ref| + 2^-10 rms(ref)) and timed (CUDA events, L2 emptied
// before each run, the median). A candidate that throws or disagrees scores +inf and is reported; the
// fastest one is saved (merged into the database file, replaced atomically) before the next shape
// starts, so an interrupted run keeps what finished and a rerun resumes where it stopped.
// `progress` is called on this thread. Throws Error: invalid_argument (check_tune_options),
// unsupported without a GPU, io_error when the database cannot be read or written.
// Dispatch reads the database at the process's first GEMM: tune before that, or restart, for the
// results to apply.
TuneSummary tune_gemm(const TuneOptions& options, const std::function<void(const TuneEvent&)>& progress = {});

}  // namespace mxjit
