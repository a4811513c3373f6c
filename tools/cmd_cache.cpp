// `mxjit cache ls|verify|prune|clear`: inspect and maintain the writable disk cache
// (jit::RuntimeState::get().disk(), so MXJIT_CACHE_DIR applies). Prebuilt roots are never touched.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <ctime>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "commands.hpp"
#include "jit/env.hpp"
#include "jit/runtime_state.hpp"

namespace mxjit::tools {
namespace {

constexpr int exit_disabled = 1;
constexpr int exit_bad_entries = 3;

// "1048576", "500K", "500M", "2G" (binary multiples: K = 1024); nullopt for anything else, or on overflow.
// The rule is the library's (MXJIT_CACHE_MAX_BYTES reads sizes the same way).
std::optional<std::uint64_t> parse_size(const std::string& text) {
  try {
    return jit::parse_byte_size(text, "--max-size");
  } catch (const Error&) {
    return std::nullopt;
  }
}

// "1.5 MiB"-style, for people; exact byte counts are printed next to it.
std::string human_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 3) v /= 1024, ++u;
  return fmt::format("{:.1f} {}", v, units[u]);
}

// Age of an entry since its last use: "42s", "3m", "2h", "5d".
std::string age(std::int64_t mtime, std::int64_t now) {
  const std::int64_t s = std::max<std::int64_t>(0, now - mtime);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h", s / 3600);
  return fmt::format("{}d", s / 86400);
}

std::uint64_t total_bytes(const std::vector<jit::CacheEntryInfo>& entries) {
  std::uint64_t total = 0;
  for (const auto& e : entries) total += e.bytes;
  return total;
}

// The writable disk cache, or nullptr (after saying so on stderr) when it is disabled.
jit::DiskCache* writable_cache() {
  jit::DiskCache& disk = jit::RuntimeState::get().disk();
  if (disk.enabled()) return &disk;
  fmt::print(stderr, "mxjit cache: the disk cache is disabled ({}); nothing to do\n",
             disk.root().empty() ? "no cache directory" : "MXJIT_DISABLE_DISK_CACHE=1");
  return nullptr;
}

int run_ls() {
  jit::DiskCache* disk = writable_cache();
  if (!disk) return exit_disabled;
  std::vector<jit::CacheEntryInfo> entries = disk->list();
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::tie(a.family, a.arch, a.key_hex) < std::tie(b.family, b.arch, b.key_hex);
  });
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  if (!entries.empty()) fmt::print("{:<8} {:<20} {:<12} {:>10} {:>5}\n", "arch", "family", "key", "bytes", "age");
  for (const auto& e : entries)
    fmt::print("{:<8} {:<20} {:<12} {:>10} {:>5}\n", e.arch, e.family, e.key_hex.substr(0, 12), e.bytes,
               age(e.mtime, now));
  const std::uint64_t total = total_bytes(entries);
  fmt::print("total: {} entries, {} bytes ({}) in {}\n", entries.size(), total, human_bytes(total), disk->root());
  return 0;
}

int run_verify() {
  jit::DiskCache* disk = writable_cache();
  if (!disk) return exit_disabled;
  const std::size_t checked = disk->list().size();
  const std::vector<std::string> removed = disk->verify_and_remove_bad();
  for (const std::string& path : removed) fmt::print("removed bad entry {}\n", path);
  fmt::print("verified {} entries: {} good, {} bad{}\n", checked, checked - std::min(checked, removed.size()),
             removed.size(), removed.empty() ? "" : " (removed)");
  return removed.empty() ? 0 : exit_bad_entries;
}

int run_prune(const std::string& max_size) {
  const std::optional<std::uint64_t> limit = parse_size(max_size);
  if (!limit) {  // the option's validator already rejects it; kept for safety
    fmt::print(stderr, "mxjit cache prune: invalid --max-size '{}'\n", max_size);
    return 2;
  }
  jit::DiskCache* disk = writable_cache();
  if (!disk) return exit_disabled;
  const std::size_t before = disk->list().size();
  const std::uint64_t freed = disk->prune(*limit);
  const std::vector<jit::CacheEntryInfo> left = disk->list();
  const std::uint64_t total = total_bytes(left);
  fmt::print("freed {} bytes ({}) by removing {} entries; {} entries, {} bytes ({}) remain (limit {} bytes)\n", freed,
             human_bytes(freed), before - std::min(before, left.size()), left.size(), total, human_bytes(total),
             *limit);
  return 0;
}

int run_clear() {
  jit::DiskCache* disk = writable_cache();
  if (!disk) return exit_disabled;
  const std::size_t count = disk->list().size();
  disk->clear();
  fmt::print("removed {} entries from {}\n", count, disk->root());
  return 0;
}

}  // namespace

Runner add_cache_command(CLI::App& app) {
  CLI::App* cache = app.add_subcommand("cache", "list, verify, prune or clear the disk kernel cache");
  cache->footer(
      "Operates on the writable cache root (MXJIT_CACHE_DIR, else $XDG_CACHE_HOME/mxjit, else ~/.cache/mxjit);\n"
      "prebuilt roots (MXJIT_CACHE_PREBUILT) are never changed. Exit status 1 when the disk cache is disabled.");
  cache->require_subcommand(1);

  CLI::App* ls = cache->add_subcommand(
      "ls", "one line per entry (arch, family, key prefix, bytes, time since last use), then the total");
  CLI::App* verify = cache->add_subcommand("verify", "re-read every entry and remove those that fail verification");
  verify->footer(
      "Exit status: 0 every entry is good; 3 bad entries were found and removed; 1 the disk cache is disabled.");
  CLI::App* prune =
      cache->add_subcommand("prune", "remove least-recently-used entries until the cache fits in --max-size");
  auto max_size = std::make_shared<std::string>();
  prune
      ->add_option("--max-size", *max_size,
                   "the most bytes to keep: plain bytes or a number with a K, M or G suffix (1024-based), e.g. 500M, 2G")
      ->required()
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            if (parse_size(value)) return {};
            return fmt::format("invalid size '{}': expected bytes or a whole number with a K, M or G suffix "
                               "(e.g. 500M, 2G)",
                               value);
          },
          "SIZE", "size"));
  CLI::App* clear = cache->add_subcommand("clear", "remove every entry");

  return [=] {
    if (ls->parsed()) return run_ls();
    if (verify->parsed()) return run_verify();
    if (prune->parsed()) return run_prune(*max_size);
    if (clear->parsed()) return run_clear();
    return 1;  // unreachable: CLI11 requires one subcommand
  };
}

}  // namespace mxjit::tools
