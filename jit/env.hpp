// The MXJIT_* environment variables: one registry, validated once, read into a snapshot.
//
// Every variable mxjit reads is declared here with its accepted values; a bad value is an error that
// lists the valid ones, and an MXJIT_* name that is not in the registry draws a warning (a typo would
// otherwise be silently ignored). Variables that change generated code are marked and enter the
// kernel cache key.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "jit/log.hpp"

namespace mxjit::jit {

struct EnvVarInfo {
  const char* name;
  const char* accepted;    // human-readable list of valid values
  bool changes_code;       // part of the kernel cache key
  const char* description;
};

std::span<const EnvVarInfo> env_registry();

struct EnvConfig {
  std::string cache_dir;                   // MXJIT_CACHE_DIR, else $XDG_CACHE_HOME/mxjit, else ~/.cache/mxjit
  std::vector<std::string> prebuilt_dirs;  // MXJIT_CACHE_PREBUILT: read-only dirs searched first
  bool disk_cache = true;                  // MXJIT_DISABLE_DISK_CACHE=1 turns it off
  std::uint64_t cache_max_bytes = 0;       // MXJIT_CACHE_MAX_BYTES: LRU-prune the disk cache above it (0: no cap)
  bool force_recompile = false;            // MXJIT_FORCE_RECOMPILE=1 ignores every cache on lookup
  bool dump_source = false, dump_ptx = false, dump_cubin = false, dump_sass = false;  // MXJIT_DUMP
  std::string dump_dir = "mxjit_dump";     // MXJIT_DUMP_DIR
  std::string tuning_db;                   // MXJIT_TUNING_DB, else <cache_dir>/tuning.json
  LogLevel log_level = LogLevel::warn;     // MXJIT_LOG_LEVEL
  bool log_compile = false, log_cache = false;  // MXJIT_LOG=compile,cache
  bool lineinfo = false;                   // MXJIT_LINEINFO=1 adds -lineinfo (changes code)
  bool early_start = true;                 // MXJIT_EARLY_START=0: no programmatic dependent launch
  std::string template_dir;                // MXJIT_TEMPLATE_DIR: templates read from here (jit/kernel_templates.hpp)

  // (name, value) of every code-changing variable, in registry order, for the cache key.
  std::vector<std::pair<std::string, std::string>> code_affecting() const;
  bool any_dump() const { return dump_source || dump_ptx || dump_cubin || dump_sass; }
};

// "500M" -> 524288000; plain bytes or a K/M/G suffix. Throws Error(invalid_argument) naming `what`.
std::uint64_t parse_byte_size(const std::string& text, const char* what);

// Reads and validates the environment. Throws Error(invalid_argument) on a bad value.
EnvConfig read_env();

// Parses a log level name ("error", "warn", "info", "debug"); throws listing the valid ones.
LogLevel parse_log_level(const std::string& text, const char* what);

}  // namespace mxjit::jit
