// Autotuning results, kept apart from the binary cache: which GEMM tile (and split count) won for an
// (op, token bucket, N, K, dtype, arch). A JSON file carries an environment fingerprint (device, arch,
// driver, NVRTC, mxjit version); a file from another environment is ignored with a warning, a corrupt
// one is an error naming the file. Saving merges with what is on disk and replaces it atomically.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "mxjit/types.hpp"

namespace mxjit::jit {

struct TuningKey {
  std::int64_t m_bucket = 0;  // the smallest power of two >= M (tuning covers M in (bucket/2, bucket])
  std::int64_t n = 0, k = 0;
  DType out = DType::bf16;
  bool operator==(const TuningKey&) const = default;
  static std::int64_t bucket_of(std::int64_t m);
};

struct TuningChoice {
  int tile = -1;
  double microseconds = 0;  // what the winner measured
};

struct TuningEnvironment {
  std::string device, arch, driver, nvrtc, mxjit;
  bool operator==(const TuningEnvironment&) const = default;
};

// The environment `device` runs in, in this process: the one a database must have been tuned in for
// dispatch to use it (and the one `mxjit tune` writes), so both sides build it here.
TuningEnvironment tuning_environment(int device);

class TuningDb {
 public:
  TuningDb() = default;
  explicit TuningDb(TuningEnvironment environment) : environment_(std::move(environment)) {}

  // Reads `path` (a missing file is an empty database). Throws Error(io_error) for unreadable or
  // corrupt files. Entries of another environment are dropped with a warning.
  static TuningDb load(const std::string& path, const TuningEnvironment& environment);
  // Merges this database into the file at `path` (entries here win) and replaces it atomically.
  void save(const std::string& path) const;

  // Lock-free and allocation-free: called on every GEMM dispatch.
  const TuningChoice* find(const TuningKey& key) const;
  void set(const TuningKey& key, const TuningChoice& choice) { entries_[key] = choice; }
  std::size_t size() const { return entries_.size(); }
  const TuningEnvironment& environment() const { return environment_; }

 private:
  struct KeyHash {
    std::size_t operator()(const TuningKey& k) const noexcept;
  };
  TuningEnvironment environment_;
  std::unordered_map<TuningKey, TuningChoice, KeyHash> entries_;
};

}  // namespace mxjit::jit
