// The on-disk kernel cache: one self-verifying file per compiled kernel.
//
// Layout: <root>/v<format>/<arch>/<family>/<key-hex>.mxk. An entry holds a header (magic, format,
// section sizes, XXH3-64 checksum of the payload) and the key record, the lowered kernel name, the
// generated source and the CUBIN. Entries are written to a private temp file, fsynced, published by
// rename(2) and the directory fsynced; concurrent writers of one key each publish a complete file and
// the last rename wins. Anything wrong on load (short file, bad magic, checksum, a record that differs
// from the requested key) is a miss: the entry is removed and rebuilt, never trusted.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jit/arch.hpp"
#include "jit/key.hpp"

namespace mxjit::jit {

struct CacheEntry {
  std::string record;        // must equal the requested CacheKey::record
  std::string lowered_name;
  std::string source;
  std::string cubin;
};

struct CacheEntryInfo {
  std::string path;
  std::string arch, family, key_hex;
  std::uint64_t bytes = 0;
  std::int64_t mtime = 0;  // seconds since the epoch; refreshed on every hit (LRU order)
};

class DiskCache {
 public:
  // `root` empty or `enabled` false: memory only. `prebuilt` roots are only ever read. `max_bytes` > 0
  // caps the writable cache: a store that takes it above prunes least-recently-used entries.
  DiskCache(std::string root, std::vector<std::string> prebuilt, bool enabled, std::uint64_t max_bytes = 0);

  std::optional<CacheEntry> load(const CacheKey& key, const std::string& family, const Arch& arch);
  // Publishes the entry; returns false (after one warning per cache) when the disk refuses it.
  bool store(const CacheKey& key, const std::string& family, const Arch& arch, const CacheEntry& entry);

  bool enabled() const { return enabled_.load(); }
  const std::string& root() const { return root_; }
  std::string entry_path(const std::string& root, const std::string& family, const Arch& arch,
                         const std::string& key_hex) const;

  std::vector<CacheEntryInfo> list() const;       // writable root only
  // Re-reads every entry; removes and returns the paths of those that fail verification.
  std::vector<std::string> verify_and_remove_bad();
  // Removes least-recently-used entries until the total is <= max_bytes; returns bytes freed.
  std::uint64_t prune(std::uint64_t max_bytes);
  void clear();

  // Entry file format; exposed for tests that plant corrupt entries.
  static std::string serialize(const CacheEntry& entry);
  static std::optional<CacheEntry> deserialize(const std::string& bytes, std::string* why);

 private:
  std::optional<CacheEntry> load_from(const std::string& root, const CacheKey& key, const std::string& family,
                                      const Arch& arch, bool may_remove);
  void disable(const std::string& why);

  std::string root_;
  std::vector<std::string> prebuilt_;
  std::atomic<bool> enabled_;
  std::uint64_t max_bytes_;
};

}  // namespace mxjit::jit
