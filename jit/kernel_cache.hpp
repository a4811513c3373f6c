// The in-memory kernel cache in front of the disk cache and NVRTC.
//
// get() returns the compiled kernel for a spec: from memory, else from disk, else compiled and
// stored. Concurrent requests for one key wait for a single compile.
#pragma once

#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "jit/disk_cache.hpp"
#include "jit/env.hpp"
#include "jit/key.hpp"
#include "jit/kernel_spec.hpp"

namespace mxjit::jit {

enum class Origin { memory, disk, compiled };

struct CompiledKernel {
  KernelSpec spec;
  CacheKey key;
  std::string lowered_name;
  std::string cubin;
  Origin origin = Origin::compiled;  // where the first request found it
  double milliseconds = 0;           // compile or disk-load time of the first request
};

struct CacheStats {
  std::uint64_t memory_hits = 0, disk_hits = 0, compiles = 0;
  double compile_ms = 0, disk_load_ms = 0;
};

class KernelCache {
 public:
  KernelCache(const EnvConfig& config, DiskCache& disk) : config_(config), disk_(disk) {}

  // `origin`, when given, receives where this request was served from.
  std::shared_ptr<const CompiledKernel> get(const KernelSpec& spec, Origin* origin = nullptr);
  // Where get() would find the spec without compiling: memory or disk; nullopt for a compile (always
  // under MXJIT_FORCE_RECOMPILE). Loads nothing into memory.
  std::optional<Origin> cached(const KernelSpec& spec) const;
  bool disk_enabled() const { return disk_.enabled(); }
  // Where the source of a kernel that failed to compile is saved: the dump folder when dumps are on,
  // else <temp>/mxjit-failed.
  std::string failure_dir() const;
  CacheKey key_of(const KernelSpec& spec) const;
  CacheStats stats() const;

 private:
  std::shared_ptr<const CompiledKernel> build(const KernelSpec& spec, const CacheKey& key);
  void dump(const CompiledKernel& kernel, const std::vector<std::string>& options) const;

  const EnvConfig& config_;
  DiskCache& disk_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_future<std::shared_ptr<const CompiledKernel>>> entries_;
  CacheStats stats_;
};

}  // namespace mxjit::jit
