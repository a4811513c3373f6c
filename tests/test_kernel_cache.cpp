// jit::KernelCache: memory in front of disk in front of NVRTC, one compile per key however many
// threads ask, and no cached state after a failed compile. Real NVRTC compiles (~80 ms each); no GPU.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "jit/disk_cache.hpp"
#include "jit/kernel_cache.hpp"
#include "ops/quantize.hpp"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

namespace fs = std::filesystem;
using jit::Origin;
using mxjit::testing::error_message;
using mxjit::testing::read_bytes;
using mxjit::testing::TempDir;
using mxjit::testing::write_bytes;

using KernelPtr = std::shared_ptr<const jit::CompiledKernel>;

jit::KernelSpec quantize_spec() {
  return ops::quantize_kernel_spec(DType::bf16, ScaleLayout::linear, ScaleRule::rceil, jit::Arch::parse("sm_90a"));
}

// A private disk cache and configuration per test, as a fresh process would have them.
class KernelCacheTest : public ::testing::Test {
 protected:
  mxjit::testing::ScopedLogLevel quiet;
  TempDir dir{"kernels"};
  jit::EnvConfig config = make_config(dir);
  jit::DiskCache disk{config.cache_dir, {}, true};
  const jit::KernelSpec spec = quantize_spec();

  static jit::EnvConfig make_config(const TempDir& dir) {
    jit::EnvConfig c;
    c.cache_dir = dir / "cache";
    c.dump_dir = dir / "dump";
    return c;
  }

  std::string entry_path(const jit::CacheKey& key) const {
    return disk.entry_path(disk.root(), spec.family, spec.arch, key.hex);
  }

  // Compiles `spec` through a throwaway KernelCache, leaving the entry on disk.
  KernelPtr populate_disk() {
    jit::KernelCache first(config, disk);
    KernelPtr k = first.get(spec);
    EXPECT_EQ(first.stats().compiles, 1u);
    EXPECT_TRUE(fs::exists(entry_path(k->key)));
    return k;
  }
};

void expect_valid_kernel(const jit::CompiledKernel& k);

// Gets `spec` from a cache that must compile it (no memory or disk hit) and checks the result.
KernelPtr expect_fresh_compile(jit::KernelCache& cache, const jit::KernelSpec& spec) {
  Origin origin = Origin::memory;
  KernelPtr k = cache.get(spec, &origin);
  EXPECT_EQ(origin, Origin::compiled);
  EXPECT_EQ(cache.stats().compiles, 1u);
  EXPECT_EQ(cache.stats().disk_hits, 0u);
  expect_valid_kernel(*k);
  return k;
}

void expect_valid_kernel(const jit::CompiledKernel& k) {
  EXPECT_EQ(k.cubin.substr(0, 4), "\x7f" "ELF");
  EXPECT_GT(k.cubin.size(), 1000u);
  EXPECT_NE(k.lowered_name.find("mxfp8_quantize_kernel"), std::string::npos) << k.lowered_name;
}

TEST_F(KernelCacheTest, FirstRequestCompilesTheSecondIsAMemoryHit) {
  jit::KernelCache cache(config, disk);
  Origin origin = Origin::memory;
  const KernelPtr first = cache.get(spec, &origin);
  EXPECT_EQ(origin, Origin::compiled);
  EXPECT_EQ(first->origin, Origin::compiled);
  EXPECT_EQ(first->key.hex, cache.key_of(spec).hex);
  EXPECT_EQ(first->spec.display_name(), spec.display_name());
  EXPECT_GT(first->milliseconds, 0.0);
  expect_valid_kernel(*first);
  jit::CacheStats s = cache.stats();
  EXPECT_EQ(s.compiles, 1u);
  EXPECT_EQ(s.memory_hits, 0u);
  EXPECT_EQ(s.disk_hits, 0u);
  EXPECT_GT(s.compile_ms, 0.0);

  const KernelPtr second = cache.get(spec, &origin);
  EXPECT_EQ(origin, Origin::memory);
  EXPECT_EQ(second.get(), first.get());
  s = cache.stats();
  EXPECT_EQ(s.compiles, 1u);
  EXPECT_EQ(s.memory_hits, 1u);

  // The compile was published to disk, with the generated source.
  const auto entry = disk.load(first->key, spec.family, spec.arch);
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->cubin, first->cubin);
  EXPECT_EQ(entry->lowered_name, first->lowered_name);
  EXPECT_EQ(entry->source, spec.source());
}

TEST_F(KernelCacheTest, NewProcessFindsTheKernelOnDisk) {
  const KernelPtr compiled = populate_disk();
  jit::DiskCache reopened(config.cache_dir, {}, true);
  jit::KernelCache cache(config, reopened);
  Origin origin = Origin::compiled;
  const KernelPtr loaded = cache.get(spec, &origin);
  EXPECT_EQ(origin, Origin::disk);
  EXPECT_EQ(loaded->origin, Origin::disk);
  EXPECT_EQ(loaded->cubin, compiled->cubin);
  EXPECT_EQ(loaded->lowered_name, compiled->lowered_name);
  EXPECT_EQ(loaded->key.hex, compiled->key.hex);
  const jit::CacheStats s = cache.stats();
  EXPECT_EQ(s.disk_hits, 1u);
  EXPECT_EQ(s.compiles, 0u);
}

TEST_F(KernelCacheTest, ConcurrentRequestsForANewKeyCompileOnce) {
  constexpr int threads = 8;
  jit::KernelCache cache(config, disk);
  std::vector<KernelPtr> got(threads);
  std::vector<Origin> origins(threads, Origin::disk);
  std::latch start(threads);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&, i] {
      start.arrive_and_wait();
      got[i] = cache.get(spec, &origins[i]);
    });
  for (std::thread& t : pool) t.join();

  const jit::CacheStats s = cache.stats();
  EXPECT_EQ(s.compiles, 1u);
  EXPECT_EQ(s.memory_hits, threads - 1u);
  EXPECT_EQ(s.disk_hits, 0u);
  int compiled = 0;
  for (int i = 0; i < threads; ++i) {
    ASSERT_NE(got[i], nullptr);
    EXPECT_EQ(got[i].get(), got[0].get()) << "thread " << i;
    compiled += origins[i] == Origin::compiled;
    EXPECT_TRUE(origins[i] == Origin::compiled || origins[i] == Origin::memory) << "thread " << i;
  }
  EXPECT_EQ(compiled, 1);
  expect_valid_kernel(*got[0]);
}

TEST_F(KernelCacheTest, ForceRecompileIgnoresAndReplacesTheDiskEntry) {
  const KernelPtr original = populate_disk();
  const std::string path = entry_path(original->key);
  struct timespec long_ago[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), long_ago, 0), 0);

  jit::EnvConfig forced = config;
  forced.force_recompile = true;
  jit::KernelCache cache(forced, disk);
  const KernelPtr k = expect_fresh_compile(cache, spec);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_GT(st.st_mtim.tv_sec, 1000000000) << "the entry was not rewritten";
}

TEST_F(KernelCacheTest, CorruptDiskEntryIsRecompiledAndRewritten) {
  const KernelPtr original = populate_disk();
  const std::string path = entry_path(original->key);
  std::string bytes = read_bytes(path);
  bytes[bytes.size() - 100] ^= 0x5a;  // inside the cubin
  write_bytes(path, bytes);

  jit::KernelCache cache(config, disk);
  const KernelPtr k = expect_fresh_compile(cache, spec);
  EXPECT_TRUE(disk.enabled());

  const auto entry = disk.load(k->key, spec.family, spec.arch);
  ASSERT_TRUE(entry.has_value()) << "the entry was not rewritten";
  EXPECT_EQ(entry->cubin, k->cubin);
  EXPECT_NE(read_bytes(path), bytes);
}

TEST_F(KernelCacheTest, FailedCompileIsReportedEveryTimeAndNotCached) {
  jit::KernelSpec broken = spec;
  broken.args[0].value = "mxjit::NoSuchType";
  // With a dump enabled the failing source is saved under dump_dir, inside this test's temp dir.
  config.dump_source = true;
  jit::KernelCache cache(config, disk);
  for (int attempt = 0; attempt < 2; ++attempt) {
    SCOPED_TRACE(attempt);
    const std::string what = error_message(ErrorCode::compile_error, [&] { cache.get(broken); });
    EXPECT_CONTAINS(what, broken.display_name());
    EXPECT_CONTAINS(what, "NoSuchType");
    EXPECT_CONTAINS(what, config.dump_dir);
  }
  const jit::CacheStats s = cache.stats();
  EXPECT_EQ(s.compiles, 0u);
  EXPECT_EQ(s.memory_hits, 0u);  // the second request compiled again instead of finding a broken entry
  EXPECT_TRUE(disk.list().empty());
}

TEST_F(KernelCacheTest, LineinfoIsPartOfTheKey) {
  jit::EnvConfig with_lineinfo = config;
  with_lineinfo.lineinfo = true;
  const jit::CacheKey plain = jit::KernelCache(config, disk).key_of(spec);
  const jit::CacheKey lined = jit::KernelCache(with_lineinfo, disk).key_of(spec);
  EXPECT_NE(plain.hex, lined.hex);
  EXPECT_CONTAINS(lined.record, "option=--generate-line-info\n");
  EXPECT_CONTAINS(lined.record, "env.MXJIT_LINEINFO=1\n");
  EXPECT_EQ(plain.record.find("line-info"), std::string::npos);
}

}  // namespace
}  // namespace mxjit
