#include "jit/kernel_cache.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "jit/log.hpp"
#include "jit/nvrtc_compiler.hpp"

namespace mxjit::jit {
namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) log(LogLevel::warn, "could not write dump {}", path);
}

}  // namespace

CacheKey KernelCache::key_of(const KernelSpec& spec) const {
  return make_key(spec, nvrtc_options(spec.arch, config_.lineinfo), config_.code_affecting());
}

std::shared_ptr<const CompiledKernel> KernelCache::get(const KernelSpec& spec, Origin* origin) {
  const CacheKey key = key_of(spec);
  std::promise<std::shared_ptr<const CompiledKernel>> promise;
  {
    std::unique_lock lock(mutex_);
    auto it = entries_.find(key.hex);
    if (it != entries_.end()) {
      auto future = it->second;
      ++stats_.memory_hits;
      lock.unlock();
      if (origin) *origin = Origin::memory;
      return future.get();  // waits while another thread builds it; rethrows its error
    }
    entries_.emplace(key.hex, promise.get_future().share());
  }
  try {
    auto kernel = build(spec, key);
    promise.set_value(kernel);
    if (origin) *origin = kernel->origin;
    return kernel;
  } catch (...) {
    promise.set_exception(std::current_exception());
    std::lock_guard lock(mutex_);
    entries_.erase(key.hex);  // a later request may try again
    throw;
  }
}

std::string KernelCache::failure_dir() const {
  return config_.any_dump() ? config_.dump_dir : (std::filesystem::temp_directory_path() / "mxjit-failed").string();
}

std::optional<Origin> KernelCache::cached(const KernelSpec& spec) const {
  const CacheKey key = key_of(spec);
  {
    std::lock_guard lock(mutex_);
    if (entries_.count(key.hex)) return Origin::memory;
  }
  if (!config_.force_recompile && disk_.load(key, spec.family, spec.arch)) return Origin::disk;
  return std::nullopt;
}

std::shared_ptr<const CompiledKernel> KernelCache::build(const KernelSpec& spec, const CacheKey& key) {
  auto kernel = std::make_shared<CompiledKernel>();
  kernel->spec = spec;
  kernel->key = key;
  const auto start = std::chrono::steady_clock::now();
  if (!config_.force_recompile) {
    if (auto entry = disk_.load(key, spec.family, spec.arch)) {
      kernel->lowered_name = std::move(entry->lowered_name);
      kernel->cubin = std::move(entry->cubin);
      kernel->origin = Origin::disk;
      kernel->milliseconds = ms_since(start);
      std::lock_guard lock(mutex_);
      ++stats_.disk_hits;
      stats_.disk_load_ms += kernel->milliseconds;
      if (config_.log_cache) log(LogLevel::info, "disk hit {} ({:.2f} ms)", spec.display_name(), kernel->milliseconds);
      return kernel;
    }
  }
  const std::vector<std::string> options = nvrtc_options(spec.arch, config_.lineinfo);
  CompileOutput out = compile_cubin(spec, options, failure_dir());
  kernel->lowered_name = std::move(out.lowered_name);
  kernel->cubin = std::move(out.cubin);
  kernel->origin = Origin::compiled;
  kernel->milliseconds = out.milliseconds;
  if (!out.log.empty()) log(LogLevel::debug, "NVRTC log for {}:\n{}", spec.display_name(), out.log);
  if (config_.log_compile)
    log(LogLevel::info, "compiled {} in {:.1f} ms: {}", spec.display_name(), out.milliseconds, fmt::join(options, " "));
  disk_.store(key, spec.family, spec.arch, CacheEntry{key.record, kernel->lowered_name, spec.source(), kernel->cubin});
  if (config_.any_dump()) dump(*kernel, options);
  std::lock_guard lock(mutex_);
  ++stats_.compiles;
  stats_.compile_ms += out.milliseconds;
  return kernel;
}

void KernelCache::dump(const CompiledKernel& k, const std::vector<std::string>& options) const {
  std::error_code ec;
  std::filesystem::create_directories(config_.dump_dir, ec);
  const std::string stem = fmt::format("{}/{}-{}", config_.dump_dir, k.spec.family, k.key.hex.substr(0, 12));
  if (config_.dump_source)
    write_text(stem + ".cu", fmt::format("{}// name expression: {}\n/* key record:\n{}*/\n", k.spec.source(),
                                         k.spec.name_expression(), k.key.record));
  if (config_.dump_ptx) write_text(stem + ".ptx", compile_ptx(k.spec, options));
  if (config_.dump_cubin || config_.dump_sass) write_text(stem + ".cubin", k.cubin);
  if (config_.dump_sass) {
    const std::string command = fmt::format("nvdisasm -c '{}.cubin' > '{}.sass' 2>&1", stem, stem);
    if (std::system(command.c_str()) != 0)
      log(LogLevel::warn, "MXJIT_DUMP=sass: '{}' failed (is nvdisasm on PATH?)", command);
  }
  log(LogLevel::info, "dumped {} to {}.*", k.spec.display_name(), stem);
}

CacheStats KernelCache::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace mxjit::jit
