#include "jit/disk_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "jit/hash.hpp"
#include "jit/log.hpp"

namespace fs = std::filesystem;

namespace mxjit::jit {
namespace {

constexpr char magic[8] = {'M', 'X', 'J', 'I', 'T', 'K', 'C', '\0'};
constexpr int sections = 4;  // record, lowered name, source, cubin
constexpr std::size_t header_bytes = sizeof(magic) + 8 + 8 * sections + 8;
constexpr const char* entry_suffix = ".mxk";

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_u64(const std::string& in, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

bool read_file(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0;
  if (ok) {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (ok && done < out.size()) {
      ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      if (n <= 0) ok = false;
      else done += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  return ok;
}

// Writes all bytes and fsyncs; returns errno on failure, 0 on success.
int write_file_synced(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  std::size_t done = 0;
  int err = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  return err;
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string unique_suffix() {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{}.{}.{:x}", ::getpid(), counter.fetch_add(1), rng());
}

}  // namespace

std::string DiskCache::serialize(const CacheEntry& e) {
  std::string payload = e.record + e.lowered_name + e.source + e.cubin;
  std::string out(magic, sizeof(magic));
  put_u64(out, cache_format_version);
  for (const std::string* s : {&e.record, &e.lowered_name, &e.source, &e.cubin}) put_u64(out, s->size());
  put_u64(out, xxh3_64(payload));
  return out + payload;
}

std::optional<CacheEntry> DiskCache::deserialize(const std::string& bytes, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<CacheEntry> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (bytes.size() < header_bytes) return fail("shorter than the header");
  if (std::memcmp(bytes.data(), magic, sizeof(magic)) != 0) return fail("bad magic");
  if (get_u64(bytes, 8) != cache_format_version) return fail("other format version");
  std::uint64_t sizes[sections], total = 0;
  for (int i = 0; i < sections; ++i) {
    sizes[i] = get_u64(bytes, 16 + 8 * i);
    if (sizes[i] > bytes.size()) return fail("section larger than the file");
    total += sizes[i];
  }
  if (total != bytes.size() - header_bytes) return fail("size does not match the header (truncated?)");
  std::string_view payload(bytes.data() + header_bytes, total);
  if (xxh3_64(payload) != get_u64(bytes, 16 + 8 * sections)) return fail("checksum mismatch");
  CacheEntry e;
  std::size_t at = 0;
  for (auto [field, i] : {std::pair{&e.record, 0}, {&e.lowered_name, 1}, {&e.source, 2}, {&e.cubin, 3}}) {
    field->assign(payload.substr(at, sizes[i]));
    at += sizes[i];
  }
  if (e.cubin.empty() || e.lowered_name.empty()) return fail("empty binary or kernel name");
  return e;
}

DiskCache::DiskCache(std::string root, std::vector<std::string> prebuilt, bool enabled, std::uint64_t max_bytes)
    : root_(std::move(root)), prebuilt_(std::move(prebuilt)), enabled_(enabled && !root_.empty()), max_bytes_(max_bytes) {}

std::string DiskCache::entry_path(const std::string& root, const std::string& family, const Arch& arch,
                                  const std::string& key_hex) const {
  return fmt::format("{}/v{}/{}/{}/{}{}", root, cache_format_version, arch.name(), family, key_hex, entry_suffix);
}

void DiskCache::disable(const std::string& why) {
  if (enabled_.exchange(false))
    log(LogLevel::warn, "disk cache at {} is not usable ({}); compiled kernels stay in memory only", root_, why);
}

std::optional<CacheEntry> DiskCache::load_from(const std::string& root, const CacheKey& key,
                                               const std::string& family, const Arch& arch, bool may_remove) {
  const std::string path = entry_path(root, family, arch, key.hex);
  std::string bytes;
  if (!read_file(path, bytes)) return std::nullopt;
  std::string why;
  std::optional<CacheEntry> entry = deserialize(bytes, &why);
  if (entry && entry->record != key.record) {
    entry.reset();
    why = "its key record differs from the requested one (hash collision or stale entry)";
  }
  if (!entry) {
    log(LogLevel::warn, "cache entry {} is invalid ({}); {}", path, why, may_remove ? "removing it" : "skipping it");
    if (may_remove) ::unlink(path.c_str());
    return std::nullopt;
  }
  if (may_remove) ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // mark recently used (LRU)
  return entry;
}

std::optional<CacheEntry> DiskCache::load(const CacheKey& key, const std::string& family, const Arch& arch) {
  for (const std::string& root : prebuilt_)
    if (auto e = load_from(root, key, family, arch, false)) return e;
  if (!enabled()) return std::nullopt;
  return load_from(root_, key, family, arch, true);
}

bool DiskCache::store(const CacheKey& key, const std::string& family, const Arch& arch, const CacheEntry& entry) {
  if (!enabled()) return false;
  const std::string path = entry_path(root_, family, arch, key.hex);
  const std::string dir = fs::path(path).parent_path().string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    disable(fmt::format("cannot create {}: {}", dir, ec.message()));
    return false;
  }
  const std::string temp = fmt::format("{}/.{}.tmp.{}", dir, key.hex, unique_suffix());
  if (int err = write_file_synced(temp, serialize(entry)); err != 0) {
    ::unlink(temp.c_str());
    disable(fmt::format("cannot write {}: {}", temp, std::strerror(err)));
    return false;
  }
  // rename() replaces atomically: a concurrent writer of the same key publishes identical content.
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    disable(fmt::format("cannot publish {}: {}", path, std::strerror(err)));
    return false;
  }
  fsync_dir(dir);
  if (max_bytes_ > 0) prune(max_bytes_);  // stores follow compiles: rare enough to rescan the directory
  return true;
}

std::vector<CacheEntryInfo> DiskCache::list() const {
  std::vector<CacheEntryInfo> out;
  const fs::path base = fs::path(root_) / fmt::format("v{}", cache_format_version);
  std::error_code ec;
  if (root_.empty() || !fs::is_directory(base, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(base, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const fs::path& p = it->path();
    if (!it->is_regular_file(ec) || p.extension() != entry_suffix || p.filename().string().starts_with("."))
      continue;
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) continue;
    CacheEntryInfo info;
    info.path = p.string();
    info.key_hex = p.stem().string();
    info.family = p.parent_path().filename().string();
    info.arch = p.parent_path().parent_path().filename().string();
    info.bytes = static_cast<std::uint64_t>(st.st_size);
    info.mtime = st.st_mtim.tv_sec;
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<std::string> DiskCache::verify_and_remove_bad() {
  std::vector<std::string> removed;
  for (const CacheEntryInfo& info : list()) {
    std::string bytes;
    std::optional<CacheEntry> entry;
    if (read_file(info.path, bytes)) entry = deserialize(bytes, nullptr);
    if (!entry || xxh3_128_hex(entry->record) != info.key_hex) {
      ::unlink(info.path.c_str());
      removed.push_back(info.path);
    }
  }
  return removed;
}

std::uint64_t DiskCache::prune(std::uint64_t max_bytes) {
  std::vector<CacheEntryInfo> entries = list();
  std::uint64_t total = 0, freed = 0;
  for (const CacheEntryInfo& e : entries) total += e.bytes;
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.mtime < b.mtime; });
  for (const CacheEntryInfo& e : entries) {
    if (total <= max_bytes) break;
    if (::unlink(e.path.c_str()) == 0) {
      total -= e.bytes;
      freed += e.bytes;
    }
  }
  return freed;
}

void DiskCache::clear() {
  std::error_code ec;
  if (!root_.empty()) fs::remove_all(fs::path(root_) / fmt::format("v{}", cache_format_version), ec);
}

}  // namespace mxjit::jit
