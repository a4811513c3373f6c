#include "jit/env.hpp"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <ranges>
#include <sstream>

#include <fmt/format.h>

#include "mxjit/error.hpp"

extern char** environ;

namespace mxjit::jit {
namespace {

constexpr EnvVarInfo registry[] = {
    {"MXJIT_CACHE_DIR", "a directory path", false,
     "disk cache root (default $XDG_CACHE_HOME/mxjit or ~/.cache/mxjit)"},
    {"MXJIT_CACHE_PREBUILT", "':'-separated directory paths", false,
     "read-only cache roots searched before the writable one (e.g. shipped with an engine)"},
    {"MXJIT_DISABLE_DISK_CACHE", "0 or 1", false, "1: keep compiled kernels in memory only"},
    {"MXJIT_CACHE_MAX_BYTES", "a byte count, optionally with K, M or G", false,
     "cap on the disk cache: least-recently-used entries are removed after a store takes it above"},
    {"MXJIT_FORCE_RECOMPILE", "0 or 1", false, "1: compile every kernel again, replacing cached entries"},
    {"MXJIT_DUMP", "comma list of source, ptx, cubin, sass", false,
     "write each compiled kernel's artifacts to MXJIT_DUMP_DIR (sass needs nvdisasm on PATH)"},
    {"MXJIT_DUMP_DIR", "a directory path", false, "where MXJIT_DUMP writes (default ./mxjit_dump)"},
    {"MXJIT_TUNING_DB", "a file path", false,
     "the tuning database GEMM dispatch consults and mxjit tune writes (default <cache dir>/tuning.json)"},
    {"MXJIT_LOG_LEVEL", "error, warn, info, debug", false, "verbosity of messages on stderr (default warn)"},
    {"MXJIT_LOG", "comma list of compile, cache", false,
     "compile: log each NVRTC compile with its options and time; cache: log hits and misses"},
    {"MXJIT_LINEINFO", "0 or 1", true, "1: compile kernels with -lineinfo (for profilers)"},
    {"MXJIT_EARLY_START", "0 or 1", false,
     "0: every kernel launches after the previous one ends (no programmatic dependent launch; for debugging)"},
    {"MXJIT_TEMPLATE_DIR", "a directory path", false,
     "compile kernels from the templates in this directory instead of the embedded ones (kernel development; "
     "their texts are part of the cache key)"},
};

const char* get(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

bool parse_bool(const char* name, bool fallback) {
  const char* v = get(name);
  if (!v) return fallback;
  if (std::strcmp(v, "1") == 0) return true;
  if (std::strcmp(v, "0") == 0) return false;
  throw Error(ErrorCode::invalid_argument, fmt::format("{}='{}' is not valid: expected 0 or 1", name, v));
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, sep);)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// Parses a comma list whose items must come from `valid`; calls set(item) for each.
template <class Set>
void parse_list(const char* name, std::initializer_list<const char*> valid, Set set) {
  const char* v = get(name);
  if (!v) return;
  for (const std::string& item : split(v, ',')) {
    bool known = false;
    for (const char* ok : valid) known = known || item == ok;
    if (!known)
      throw Error(ErrorCode::invalid_argument,
                  fmt::format("{}: unknown item '{}' in '{}': valid items are {}", name, item, v,
                              fmt::join(valid, ", ")));
    set(item);
  }
}

std::string default_cache_dir() {
  if (const char* xdg = get("XDG_CACHE_HOME")) return std::string(xdg) + "/mxjit";
  if (const char* home = get("HOME")) return std::string(home) + "/.cache/mxjit";
  return "/tmp/mxjit-cache";
}

void warn_unknown_names() {
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    if (!entry.starts_with("MXJIT_")) continue;
    std::string_view name = entry.substr(0, entry.find('='));
    bool known = false;
    for (const EnvVarInfo& info : registry) known = known || name == info.name;
    if (!known)
      log(LogLevel::warn, "ignoring unknown environment variable {}; mxjit reads: {}", name,
          fmt::join(std::span(registry) | std::views::transform([](auto& i) { return i.name; }), ", "));
  }
}

}  // namespace

std::span<const EnvVarInfo> env_registry() { return registry; }

std::uint64_t parse_byte_size(const std::string& text, const char* what) {
  auto fail = [&] {
    return Error(ErrorCode::invalid_argument,
                 fmt::format("{}='{}' is not a size: expected a whole number of bytes, optionally followed by K, M or G",
                             what, text));
  };
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) throw fail();
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (...) {
    throw fail();
  }
  const std::string suffix = text.substr(used);
  const int shift = suffix.empty() ? 0 : suffix == "K" ? 10 : suffix == "M" ? 20 : suffix == "G" ? 30 : -1;
  if (shift < 0 || value > (~0ull >> shift)) throw fail();
  return value << shift;
}

LogLevel parse_log_level(const std::string& text, const char* what) {
  constexpr const char* names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; ++i)
    if (text == names[i]) return static_cast<LogLevel>(i);
  throw Error(ErrorCode::invalid_argument,
              fmt::format("{}='{}' is not a log level: valid levels are error, warn, info, debug", what, text));
}

EnvConfig read_env() {
  EnvConfig c;
  if (const char* v = get("MXJIT_LOG_LEVEL")) c.log_level = parse_log_level(v, "MXJIT_LOG_LEVEL");
  c.cache_dir = get("MXJIT_CACHE_DIR") ? get("MXJIT_CACHE_DIR") : default_cache_dir();
  if (const char* v = get("MXJIT_CACHE_PREBUILT")) c.prebuilt_dirs = split(v, ':');
  c.disk_cache = !parse_bool("MXJIT_DISABLE_DISK_CACHE", false);
  if (const char* v = get("MXJIT_CACHE_MAX_BYTES")) c.cache_max_bytes = parse_byte_size(v, "MXJIT_CACHE_MAX_BYTES");
  c.force_recompile = parse_bool("MXJIT_FORCE_RECOMPILE", false);
  parse_list("MXJIT_DUMP", {"source", "ptx", "cubin", "sass"}, [&](const std::string& item) {
    if (item == "source") c.dump_source = true;
    if (item == "ptx") c.dump_ptx = true;
    if (item == "cubin") c.dump_cubin = true;
    if (item == "sass") c.dump_sass = true;
  });
  if (const char* v = get("MXJIT_DUMP_DIR")) c.dump_dir = v;
  c.tuning_db = get("MXJIT_TUNING_DB") ? get("MXJIT_TUNING_DB") : c.cache_dir + "/tuning.json";
  parse_list("MXJIT_LOG", {"compile", "cache"}, [&](const std::string& item) {
    if (item == "compile") c.log_compile = true;
    if (item == "cache") c.log_cache = true;
  });
  c.lineinfo = parse_bool("MXJIT_LINEINFO", false);
  c.early_start = parse_bool("MXJIT_EARLY_START", true);
  if (const char* v = get("MXJIT_TEMPLATE_DIR")) c.template_dir = v;
  warn_unknown_names();
  return c;
}

std::vector<std::pair<std::string, std::string>> EnvConfig::code_affecting() const {
  return {{"MXJIT_LINEINFO", lineinfo ? "1" : "0"}};
}

}  // namespace mxjit::jit
