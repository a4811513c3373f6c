// jit::DiskCache: self-verifying entries, damage treated as a miss, read-only prebuilt roots,
// graceful degradation when the disk refuses writes, concurrent writers, and maintenance (list,
// prune, verify, clear).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jit/disk_cache.hpp"
#include "jit/env.hpp"
#include "jit/hash.hpp"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

namespace fs = std::filesystem;
using mxjit::testing::read_bytes;
using mxjit::testing::TempDir;
using mxjit::testing::write_bytes;

const std::string family = "test_family";
const jit::Arch sm90a = jit::Arch::parse("sm_90a");

// A key as make_key() would produce it: the hex is the record's XXH3-128.
jit::CacheKey key_for(const std::string& name) {
  const std::string record = "test=" + name + "\n";
  return jit::CacheKey{record, jit::xxh3_128_hex(record)};
}

// An entry for `key`; the default cubin holds NULs and high bytes, as real ones do.
jit::CacheEntry entry_for(const jit::CacheKey& key, std::string cubin = std::string("\x7f" "ELF\0\x01\xff\x80", 8)) {
  return jit::CacheEntry{key.record, "_Z6kernelIL" + key.hex.substr(0, 6) + "EEvv",
                         "// source of " + key.hex + "\n#include \"x.cuh\"\n", std::move(cubin)};
}

void expect_same_entry(const std::optional<jit::CacheEntry>& got, const jit::CacheEntry& want) {
  ASSERT_TRUE(got.has_value()) << "expected a hit";
  EXPECT_EQ(got->record, want.record);
  EXPECT_EQ(got->lowered_name, want.lowered_name);
  EXPECT_EQ(got->source, want.source);
  EXPECT_EQ(got->cubin, want.cubin);
}

void set_mtime(const std::string& path, std::time_t seconds) {
  const struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

std::time_t mtime_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mtim.tv_sec;
}

// Every file below `dir` whose name starts with '.' (the writers' temp files).
std::vector<std::string> hidden_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().starts_with(".")) out.push_back(e.path().string());
  return out;
}

// A writable cache in a fresh temp dir.
class DiskCacheTest : public ::testing::Test {
 protected:
  mxjit::testing::ScopedLogLevel quiet;
  TempDir dir{"disk"};
  jit::DiskCache cache{dir / "root", {}, true};

  std::string path_of(const jit::CacheKey& key, const std::string& root) const {
    return cache.entry_path(root, family, sm90a, key.hex);
  }
  std::string path_of(const jit::CacheKey& key) const { return path_of(key, cache.root()); }

  void store(const jit::CacheKey& key, const jit::CacheEntry& entry) {
    ASSERT_TRUE(cache.store(key, family, sm90a, entry));
  }
  std::optional<jit::CacheEntry> load(const jit::CacheKey& key) { return cache.load(key, family, sm90a); }

  // Stores a fresh entry for `key` and checks it loads back.
  void expect_round_trip(const jit::CacheKey& key) {
    const jit::CacheEntry entry = entry_for(key);
    store(key, entry);
    expect_same_entry(load(key), entry);
  }
};

TEST_F(DiskCacheTest, StoreThenLoadRoundTripsEveryField) {
  const jit::CacheKey key = key_for("round-trip");
  const jit::CacheEntry entry = entry_for(key, std::string(100000, '\0') + "tail");
  EXPECT_TRUE(cache.enabled());
  store(key, entry);
  const std::string path = path_of(key);
  EXPECT_EQ(path, dir / ("root/v" + std::to_string(jit::cache_format_version) + "/sm_90a/" + family + "/" +
                         key.hex + ".mxk"));
  EXPECT_EQ(read_bytes(path), jit::DiskCache::serialize(entry));
  expect_same_entry(load(key), entry);
  EXPECT_TRUE(hidden_files(dir.path()).empty());
}

TEST_F(DiskCacheTest, AbsentKeyIsAMiss) {
  expect_round_trip(key_for("present"));
  EXPECT_FALSE(load(key_for("absent")).has_value());
  EXPECT_FALSE(cache.load(key_for("present"), family, jit::Arch::parse("sm_100a")).has_value());  // other arch
  EXPECT_FALSE(cache.load(key_for("present"), "other_family", sm90a).has_value());
}

TEST_F(DiskCacheTest, EntryWithAnotherRecordIsAMissAndRemoved) {
  const jit::CacheKey key = key_for("collision");
  store(key, entry_for(key));
  const jit::CacheKey same_hex{"test=something else\n", key.hex};  // a hash collision, or a stale entry
  EXPECT_FALSE(load(same_hex).has_value());
  EXPECT_FALSE(fs::exists(path_of(key)));
  expect_round_trip(key);
}

TEST_F(DiskCacheTest, DisabledOrRootlessCacheStoresNothing) {
  jit::DiskCache disabled(dir / "disabled", {}, false);
  jit::DiskCache rootless("", {}, true);
  for (jit::DiskCache* c : {&disabled, &rootless}) {
    const jit::CacheKey key = key_for("nowhere");
    EXPECT_FALSE(c->enabled());
    EXPECT_FALSE(c->store(key, family, sm90a, entry_for(key)));
    EXPECT_FALSE(c->load(key, family, sm90a).has_value());
  }
  EXPECT_FALSE(fs::exists(dir / "disabled"));
}

TEST_F(DiskCacheTest, UnwritableRootDisablesTheCacheWithoutThrowing) {
  // A root below a regular file cannot be created, even by root (chmod would not stop root).
  write_bytes(dir / "plain-file", "not a directory");
  jit::DiskCache blocked(dir / "plain-file/cache", {}, true);
  const jit::CacheKey key = key_for("refused");
  EXPECT_TRUE(blocked.enabled());
  bool stored = true;
  EXPECT_NO_THROW(stored = blocked.store(key, family, sm90a, entry_for(key)));
  EXPECT_FALSE(stored);
  EXPECT_FALSE(blocked.enabled());
  EXPECT_FALSE(blocked.store(key, family, sm90a, entry_for(key)));  // stays off, still no throw
  EXPECT_FALSE(blocked.load(key, family, sm90a).has_value());
  EXPECT_EQ(read_bytes(dir / "plain-file"), "not a directory");
}

// ---------------------------------------------------------------------------------------------
// Damaged entries: every kind is rejected by deserialize() with its reason, and on load is a miss
// that removes the file, after which the key can be stored and loaded again.

struct Damage {
  const char* name;
  void (*apply)(std::string& bytes);  // turns a valid entry file into a damaged one
  const char* why;                    // deserialize()'s reason
};

// Header: magic[8], format u64 @8, four section sizes u64 @16..47, checksum u64 @48, payload @56.
const Damage damages[] = {
    {"FlippedPayloadByte", [](std::string& b) { b.back() ^= 0x40; }, "checksum mismatch"},
    {"FlippedChecksum", [](std::string& b) { b[48] ^= 0x01; }, "checksum mismatch"},
    {"Truncated", [](std::string& b) { b.resize(b.size() - 7); }, "size does not match"},
    {"TrailingBytes", [](std::string& b) { b += "extra"; }, "size does not match"},
    {"SectionSizeOff", [](std::string& b) { b[16] ^= 0x01; }, "size does not match"},
    {"SectionLargerThanFile", [](std::string& b) { b[16 + 3 * 8 + 5] = 1; }, "section larger than the file"},
    {"CutInsideHeader", [](std::string& b) { b.resize(20); }, "shorter than the header"},
    {"Empty", [](std::string& b) { b.clear(); }, "shorter than the header"},
    {"BadMagic", [](std::string& b) { b[0] = 'Z'; }, "bad magic"},
    {"Garbage", [](std::string& b) { b.assign(300, 'z'); }, "bad magic"},
    {"OtherFormatVersion", [](std::string& b) { b[8] = static_cast<char>(jit::cache_format_version + 1); },
     "other format version"},
    {"EmptyCubin", [](std::string& b) { b = jit::DiskCache::serialize(jit::CacheEntry{"test=x\n", "k", "s", ""}); },
     "empty binary"},
};

std::ostream& operator<<(std::ostream& os, const Damage& d) { return os << d.name; }

class DamagedEntry : public DiskCacheTest, public ::testing::WithParamInterface<Damage> {};

TEST_P(DamagedEntry, IsRejectedRemovedAndReplaceable) {
  const jit::CacheKey key = key_for("damaged");
  std::string bytes = jit::DiskCache::serialize(entry_for(key));
  GetParam().apply(bytes);

  std::string why;
  EXPECT_FALSE(jit::DiskCache::deserialize(bytes, &why).has_value());
  EXPECT_CONTAINS(why, GetParam().why);

  store(key, entry_for(key));
  write_bytes(path_of(key), bytes);
  EXPECT_FALSE(load(key).has_value());
  EXPECT_FALSE(fs::exists(path_of(key))) << "a damaged entry must be removed";
  EXPECT_TRUE(cache.enabled());
  expect_round_trip(key);
}

INSTANTIATE_TEST_SUITE_P(Kinds, DamagedEntry, ::testing::ValuesIn(damages),
                         [](const ::testing::TestParamInfo<Damage>& info) { return std::string(info.param.name); });

TEST(DiskCacheFormat, SerializeDeserializeRoundTrip) {
  const jit::CacheEntry entry = entry_for(key_for("format"), std::string("\0\0\x7f", 3));
  const std::string bytes = jit::DiskCache::serialize(entry);
  EXPECT_EQ(bytes.substr(0, 8), std::string("MXJITKC\0", 8));
  EXPECT_EQ(bytes.size(), 56 + entry.record.size() + entry.lowered_name.size() + entry.source.size() + 3);
  std::string why = "untouched";
  expect_same_entry(jit::DiskCache::deserialize(bytes, &why), entry);
  EXPECT_EQ(why, "untouched");
}

// ---------------------------------------------------------------------------------------------
// Prebuilt (read-only) roots

TEST_F(DiskCacheTest, PrebuiltRootIsSearchedFirstAndNeverModified) {
  const std::string prebuilt_root = dir / "prebuilt";
  const jit::CacheKey key = key_for("shipped");
  const jit::CacheEntry shipped = entry_for(key, "prebuilt cubin");
  const jit::CacheEntry local = entry_for(key, "writable cubin");
  jit::DiskCache writer(prebuilt_root, {}, true);
  ASSERT_TRUE(writer.store(key, family, sm90a, shipped));

  jit::DiskCache layered(dir / "root", {prebuilt_root}, true);
  ASSERT_TRUE(layered.store(key, family, sm90a, local));  // stores go to the writable root only
  expect_same_entry(layered.load(key, family, sm90a), shipped);

  // A damaged prebuilt entry is skipped (the writable root serves) but left alone.
  const std::string prebuilt_path = path_of(key, prebuilt_root);
  std::string damaged = read_bytes(prebuilt_path);
  damaged.back() ^= 0x01;
  write_bytes(prebuilt_path, damaged);
  set_mtime(prebuilt_path, 1000000000);
  expect_same_entry(layered.load(key, family, sm90a), local);
  EXPECT_EQ(read_bytes(prebuilt_path), damaged);
  EXPECT_EQ(mtime_of(prebuilt_path), 1000000000);

  // A prebuilt record mismatch is skipped the same way, not removed.
  write_bytes(prebuilt_path, jit::DiskCache::serialize(entry_for(jit::CacheKey{"test=stale\n", key.hex})));
  expect_same_entry(layered.load(key, family, sm90a), local);
  EXPECT_TRUE(fs::exists(prebuilt_path));
}

TEST_F(DiskCacheTest, PrebuiltRootServesWhenTheWritableCacheIsOff) {
  const std::string prebuilt_root = dir / "prebuilt";
  const jit::CacheKey key = key_for("shipped");
  const jit::CacheEntry shipped = entry_for(key, "prebuilt cubin");
  ASSERT_TRUE(jit::DiskCache(prebuilt_root, {}, true).store(key, family, sm90a, shipped));
  jit::DiskCache memory_only("", {dir / "missing", prebuilt_root}, false);
  expect_same_entry(memory_only.load(key, family, sm90a), shipped);
  EXPECT_FALSE(memory_only.load(key_for("other"), family, sm90a).has_value());
}

// ---------------------------------------------------------------------------------------------
// Concurrency

TEST_F(DiskCacheTest, ConcurrentWritersOfOneKeyInTwoProcessesAllSucceed) {
  const jit::CacheKey key = key_for("contended");
  const jit::CacheEntry entry = entry_for(key, std::string(256 * 1024, 'c'));
  constexpr int threads_per_process = 4, stores_per_thread = 8;

  // Stores the entry from several threads; returns how many stores failed.
  auto hammer = [&] {
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_per_process; ++t)
      threads.emplace_back([&] {
        for (int i = 0; i < stores_per_thread; ++i)
          if (!cache.store(key, family, sm90a, entry)) ++failures;
      });
    for (std::thread& t : threads) t.join();
    return failures.load();
  };

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(hammer() == 0 ? 0 : 1);  // no gtest in the child: report by exit status

  // While the parent writes, a reader must never see a torn entry: once the key is present it stays
  // loadable (a torn read would be a miss that removes the file).
  std::atomic<bool> writing{true};
  int hits = 0, misses_after_hit = 0, wrong = 0;
  std::thread reader([&] {
    while (writing.load()) {
      std::optional<jit::CacheEntry> got = load(key);
      if (got) {
        ++hits;
        if (got->cubin != entry.cubin || got->record != entry.record) ++wrong;
      } else if (hits > 0) {
        ++misses_after_hit;
      }
    }
  });
  const int parent_failures = hammer();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  writing = false;
  reader.join();

  EXPECT_EQ(parent_failures, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "a store failed in the child process";
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(misses_after_hit, 0);
  EXPECT_TRUE(cache.enabled());
  expect_same_entry(load(key), entry);
  EXPECT_EQ(hidden_files(dir.path()), std::vector<std::string>{}) << "temp files left behind";
  EXPECT_EQ(cache.list().size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Maintenance: list, prune, verify, clear

TEST_F(DiskCacheTest, ListDescribesEveryEntry) {
  struct Stored {
    jit::Arch arch;
    std::string family;
    jit::CacheKey key;
  };
  const std::vector<Stored> stored = {{sm90a, "fam_a", key_for("1")},
                                      {sm90a, "fam_b", key_for("2")},
                                      {jit::Arch::parse("sm_100a"), "fam_a", key_for("3")}};
  for (const Stored& s : stored) ASSERT_TRUE(cache.store(s.key, s.family, s.arch, entry_for(s.key)));
  // Neither a temp file nor a foreign file is an entry.
  const fs::path fam_a_dir = fs::path(cache.entry_path(cache.root(), "fam_a", sm90a, "x")).parent_path();
  write_bytes((fam_a_dir / ".hidden.mxk").string(), "x");
  write_bytes((fam_a_dir / "notes.txt").string(), "x");

  std::vector<jit::CacheEntryInfo> listed = cache.list();
  ASSERT_EQ(listed.size(), stored.size());
  for (const Stored& s : stored) {
    SCOPED_TRACE(s.key.record);
    auto it = std::find_if(listed.begin(), listed.end(), [&](const auto& i) { return i.key_hex == s.key.hex; });
    ASSERT_NE(it, listed.end());
    EXPECT_EQ(it->arch, s.arch.name());
    EXPECT_EQ(it->family, s.family);
    EXPECT_EQ(it->path, cache.entry_path(cache.root(), s.family, s.arch, s.key.hex));
    EXPECT_EQ(it->bytes, jit::DiskCache::serialize(entry_for(s.key)).size());
    EXPECT_GT(it->mtime, 0);
  }
}

TEST_F(DiskCacheTest, ListOfAnEmptyOrMissingRootIsEmpty) {
  EXPECT_TRUE(cache.list().empty());
  EXPECT_EQ(cache.prune(0), 0u);
  EXPECT_TRUE(cache.verify_and_remove_bad().empty());
}

TEST_F(DiskCacheTest, PruneRemovesLeastRecentlyUsedFirst) {
  const std::time_t now = std::time(nullptr);
  const jit::CacheKey a = key_for("a"), b = key_for("b"), c = key_for("c");
  for (const jit::CacheKey* k : {&a, &b, &c}) store(*k, entry_for(*k));
  const std::uint64_t size = jit::DiskCache::serialize(entry_for(a)).size();  // all three are this big
  set_mtime(path_of(a), now - 200);
  set_mtime(path_of(b), now - 300);  // least recently used, though stored second
  set_mtime(path_of(c), now - 100);

  EXPECT_EQ(cache.prune(3 * size), 0u);  // within budget: nothing to do
  EXPECT_EQ(cache.list().size(), 3u);

  EXPECT_EQ(cache.prune(3 * size - 1), size);
  EXPECT_FALSE(fs::exists(path_of(b)));
  EXPECT_TRUE(fs::exists(path_of(a)));

  EXPECT_EQ(cache.prune(size), size);
  EXPECT_FALSE(fs::exists(path_of(a)));
  expect_same_entry(load(c), entry_for(c));
}

TEST_F(DiskCacheTest, LoadMarksAnEntryRecentlyUsed) {
  const std::time_t now = std::time(nullptr);
  const jit::CacheKey old_key = key_for("old"), new_key = key_for("new");
  store(old_key, entry_for(old_key));
  store(new_key, entry_for(new_key));
  set_mtime(path_of(old_key), now - 1000);
  set_mtime(path_of(new_key), now - 500);

  ASSERT_TRUE(load(old_key).has_value());
  EXPECT_GE(mtime_of(path_of(old_key)), now);
  cache.prune(jit::DiskCache::serialize(entry_for(old_key)).size());
  EXPECT_TRUE(fs::exists(path_of(old_key)));
  EXPECT_FALSE(fs::exists(path_of(new_key)));
}

TEST_F(DiskCacheTest, VerifyRemovesExactlyTheBadEntries) {
  const jit::CacheKey good1 = key_for("good1"), good2 = key_for("good2"), flipped = key_for("flipped"),
                      misnamed = key_for("misnamed");
  for (const jit::CacheKey* k : {&good1, &good2, &flipped}) store(*k, entry_for(*k));
  std::string bytes = read_bytes(path_of(flipped));
  bytes[bytes.size() / 2] ^= 0x10;
  write_bytes(path_of(flipped), bytes);
  // A valid entry filed under a name that is not its record's hash.
  write_bytes(path_of(misnamed), jit::DiskCache::serialize(entry_for(key_for("someone else"))));
  const std::string garbage = cache.entry_path(cache.root(), "other_family", sm90a, std::string(32, 'f'));
  fs::create_directories(fs::path(garbage).parent_path());
  write_bytes(garbage, "garbage");

  std::vector<std::string> removed = cache.verify_and_remove_bad();
  std::sort(removed.begin(), removed.end());
  std::vector<std::string> expected = {path_of(flipped), path_of(misnamed), garbage};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(removed, expected);
  for (const std::string& path : expected) EXPECT_FALSE(fs::exists(path)) << path;
  expect_same_entry(load(good1), entry_for(good1));
  expect_same_entry(load(good2), entry_for(good2));
  EXPECT_EQ(cache.list().size(), 2u);
  EXPECT_TRUE(cache.verify_and_remove_bad().empty());
}

TEST_F(DiskCacheTest, ClearRemovesEveryEntryButNothingElse) {
  const jit::CacheKey a = key_for("a"), b = key_for("b");
  store(a, entry_for(a));
  store(b, entry_for(b));
  write_bytes(dir / "root/keep.txt", "user file");
  ASSERT_EQ(cache.list().size(), 2u);

  cache.clear();
  EXPECT_TRUE(cache.list().empty());
  EXPECT_FALSE(load(a).has_value());
  EXPECT_EQ(read_bytes(dir / "root/keep.txt"), "user file");
  expect_round_trip(a);  // usable afterwards
}

}  // namespace
}  // namespace mxjit

namespace mxjit {
namespace {

TEST(DiskCacheCap, StoresBeyondTheCapEvictLeastRecentlyUsedFirst) {
  const std::string root = ::testing::TempDir() + "mxjit-cap-" + std::to_string(::getpid());
  std::filesystem::remove_all(root);
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  auto entry_for = [](int i) {
    jit::CacheEntry e{"record " + std::to_string(i), "kernel", "source", std::string(1000, static_cast<char>('a' + i))};
    return std::pair{jit::CacheKey{e.record, jit::xxh3_128_hex(e.record)}, e};
  };
  const std::uint64_t one = jit::DiskCache::serialize(entry_for(0).second).size();
  jit::DiskCache capped(root, {}, true, 2 * one + one / 2);  // room for two entries
  for (int i = 0; i < 3; ++i) {
    auto [key, e] = entry_for(i);
    ASSERT_TRUE(capped.store(key, "fam", arch, e));
    // Distinct, increasing last-use times so the order of eviction is defined.
    struct timespec when[2] = {{1000000000 + i, 0}, {1000000000 + i, 0}};
    ::utimensat(AT_FDCWD, capped.entry_path(root, "fam", arch, key.hex).c_str(), when, 0);
  }
  // The third store took the cache over its cap: the oldest entry went, the newest two stay.
  EXPECT_EQ(capped.list().size(), 2u);
  EXPECT_FALSE(capped.load(entry_for(0).first, "fam", arch).has_value());
  EXPECT_TRUE(capped.load(entry_for(2).first, "fam", arch).has_value());
  std::filesystem::remove_all(root);
}

TEST(DiskCacheCap, ByteSizesParseWithSuffixesAndRejectGarbage) {
  EXPECT_EQ(jit::parse_byte_size("1048576", "X"), 1048576u);
  EXPECT_EQ(jit::parse_byte_size("500M", "X"), 500ull << 20);
  EXPECT_EQ(jit::parse_byte_size("2G", "X"), 2ull << 30);
  for (const char* bad : {"", "12Q", "-5", "5KB", "1.5M", "0x10", " 5", "99999999999999999999"}) {
    try {
      jit::parse_byte_size(bad, "MXJIT_CACHE_MAX_BYTES");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("MXJIT_CACHE_MAX_BYTES='") + bad + "'"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace mxjit
