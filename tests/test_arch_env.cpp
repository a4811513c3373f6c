// Targets (jit::Arch), the MXJIT_* environment (jit::read_env) and the host side of FastDivisor.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "jit/arch.hpp"
#include "jit/env.hpp"
#include "mxjit/error.hpp"
#include "ops/fast_divisor.hpp"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

using mxjit::testing::error_message;

// ---------------------------------------------------------------------------------------------
// jit::Arch

TEST(Arch, ParsesValidTargets) {
  struct Case {
    const char* text;
    int major, minor;
    bool arch_specific;
  };
  for (const Case& c : {Case{"sm_90a", 9, 0, true}, Case{"sm_89", 8, 9, false}, Case{"sm_100a", 10, 0, true},
                        Case{"sm_90", 9, 0, false}, Case{"sm_120a", 12, 0, true}}) {
    SCOPED_TRACE(c.text);
    const jit::Arch arch = jit::Arch::parse(c.text);
    EXPECT_EQ(arch.major, c.major);
    EXPECT_EQ(arch.minor, c.minor);
    EXPECT_EQ(arch.arch_specific, c.arch_specific);
    EXPECT_EQ(arch.name(), c.text);  // name() is parse()'s inverse
  }
  EXPECT_EQ(jit::Arch::parse("sm_90a").sm(), 90);
  EXPECT_EQ(jit::Arch::parse("sm_100a").sm(), 100);
}

TEST(Arch, RejectsMalformedTargetsNamingThem) {
  for (const char* bad : {"sm90", "sm_9x", "sm_80a", "", "sm_", "sm_a", "compute_90a", "sm_90b", "sm_9"}) {
    SCOPED_TRACE(bad);
    const std::string what = error_message(ErrorCode::invalid_argument, [&] { jit::Arch::parse(bad); });
    EXPECT_CONTAINS(what, std::string("'") + bad + "'");
  }
  // The generic message states the accepted forms; the 'a' rejection says why.
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [] { jit::Arch::parse("sm90"); }), "e.g. sm_90a");
  EXPECT_CONTAINS(error_message(ErrorCode::invalid_argument, [] { jit::Arch::parse("sm_80a"); }), "from sm_90");
}

TEST(Arch, ForComputeCapabilityPicksTheArchSpecificTargetFromHopperOn) {
  EXPECT_EQ(jit::Arch::for_compute_capability(9, 0).name(), "sm_90a");
  EXPECT_EQ(jit::Arch::for_compute_capability(8, 9).name(), "sm_89");
  EXPECT_EQ(jit::Arch::for_compute_capability(8, 0).name(), "sm_80");
  EXPECT_EQ(jit::Arch::for_compute_capability(10, 0).name(), "sm_100a");
  EXPECT_EQ(jit::Arch::for_compute_capability(12, 0).name(), "sm_120a");
  EXPECT_EQ(jit::Arch::for_compute_capability(9, 0), jit::Arch::parse("sm_90a"));
}

// ---------------------------------------------------------------------------------------------
// jit::read_env

// Clears every MXJIT_* variable mxjit reads (plus XDG_CACHE_HOME and HOME) for the test and puts the
// original environment back afterwards, so neither the caller's shell nor other tests leak in.
class Env : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> names = {"XDG_CACHE_HOME", "HOME", "MXJIT_LOGLEVEL" /* a misspelling, below */};
    for (const jit::EnvVarInfo& info : jit::env_registry()) names.emplace_back(info.name);
    for (const std::string& name : names) {
      const char* value = std::getenv(name.c_str());
      saved_.push_back({name, value ? std::optional<std::string>(value) : std::nullopt});
      if (name.starts_with("MXJIT_")) ::unsetenv(name.c_str());
    }
  }

  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }

  static void set(const char* name, const char* value) { ASSERT_EQ(::setenv(name, value, 1), 0); }

  // read_env() must reject the environment; returns its message.
  static std::string rejected() { return error_message(ErrorCode::invalid_argument, [] { jit::read_env(); }); }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST_F(Env, DefaultsWhenNothingIsSet) {
  set("XDG_CACHE_HOME", "/xdg");
  const jit::EnvConfig c = jit::read_env();
  EXPECT_TRUE(c.disk_cache);
  EXPECT_FALSE(c.force_recompile);
  EXPECT_FALSE(c.any_dump());
  EXPECT_FALSE(c.lineinfo);
  EXPECT_TRUE(c.early_start);
  EXPECT_EQ(c.log_level, LogLevel::warn);
  EXPECT_TRUE(c.prebuilt_dirs.empty());
}

TEST_F(Env, UnknownDumpItemListsTheValidOnes) {
  set("MXJIT_DUMP", "source,bogus");
  const std::string what = rejected();
  EXPECT_CONTAINS(what, "MXJIT_DUMP");
  EXPECT_CONTAINS(what, "'bogus'");
  EXPECT_CONTAINS(what, "source, ptx, cubin, sass");
}

TEST_F(Env, ValidDumpItemsAreRead) {
  set("MXJIT_DUMP", "ptx,sass");
  const jit::EnvConfig c = jit::read_env();
  EXPECT_FALSE(c.dump_source);
  EXPECT_TRUE(c.dump_ptx);
  EXPECT_FALSE(c.dump_cubin);
  EXPECT_TRUE(c.dump_sass);
}

TEST_F(Env, UnknownLogLevelListsTheLevels) {
  set("MXJIT_LOG_LEVEL", "loud");
  const std::string what = rejected();
  EXPECT_CONTAINS(what, "'loud'");
  EXPECT_CONTAINS(what, "error, warn, info, debug");

  set("MXJIT_LOG_LEVEL", "debug");
  EXPECT_EQ(jit::read_env().log_level, LogLevel::debug);
}

TEST_F(Env, BooleanMustBeZeroOrOne) {
  set("MXJIT_DISABLE_DISK_CACHE", "yes");
  const std::string what = rejected();
  EXPECT_CONTAINS(what, "MXJIT_DISABLE_DISK_CACHE");
  EXPECT_CONTAINS(what, "expected 0 or 1");

  set("MXJIT_DISABLE_DISK_CACHE", "1");
  EXPECT_FALSE(jit::read_env().disk_cache);
  set("MXJIT_DISABLE_DISK_CACHE", "0");
  EXPECT_TRUE(jit::read_env().disk_cache);
  set("MXJIT_EARLY_START", "0");
  EXPECT_FALSE(jit::read_env().early_start);
}

TEST_F(Env, CacheDirectoryResolution) {
  set("HOME", "/home/someone");
  set("XDG_CACHE_HOME", "/xdg/cache");
  EXPECT_EQ(jit::read_env().cache_dir, "/xdg/cache/mxjit");

  set("MXJIT_CACHE_DIR", "/explicit/cache");  // wins over XDG
  EXPECT_EQ(jit::read_env().cache_dir, "/explicit/cache");

  ::unsetenv("MXJIT_CACHE_DIR");
  ::unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(jit::read_env().cache_dir, "/home/someone/.cache/mxjit");
}

TEST_F(Env, PrebuiltDirsAreColonSeparated) {
  set("MXJIT_CACHE_PREBUILT", "/a::/b/c");
  EXPECT_EQ(jit::read_env().prebuilt_dirs, (std::vector<std::string>{"/a", "/b/c"}));
}

TEST_F(Env, LineinfoChangesCodeAndEntersTheKey) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(jit::read_env().code_affecting(), (Pairs{{"MXJIT_LINEINFO", "0"}}));
  set("MXJIT_LINEINFO", "1");
  const jit::EnvConfig c = jit::read_env();
  EXPECT_TRUE(c.lineinfo);
  EXPECT_EQ(c.code_affecting(), (Pairs{{"MXJIT_LINEINFO", "1"}}));
}

TEST_F(Env, MisspelledVariableIsWarnedAboutNotFatal) {
  set("MXJIT_LOGLEVEL", "debug");  // the real name is MXJIT_LOG_LEVEL
  const mxjit::testing::ScopedLogLevel warnings(LogLevel::warn);
  ::testing::internal::CaptureStderr();
  const jit::EnvConfig c = jit::read_env();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(c.log_level, LogLevel::warn);
  EXPECT_CONTAINS(err, "unknown environment variable MXJIT_LOGLEVEL");
  EXPECT_CONTAINS(err, "MXJIT_LOG_LEVEL");
}

// ---------------------------------------------------------------------------------------------
// ops::make_fast_divisor / fast_divide

constexpr std::uint64_t u32_max = 0xFFFFFFFFull;

// Dividends that stress a divisor: the ends of the range, the neighbourhood of d and of several of
// its multiples (including the last one below 2^32), plus seeded random values.
std::vector<std::uint32_t> dividends_for(std::uint32_t d, int random_count) {
  std::vector<std::uint64_t> n = {0, 1, 2, u32_max, u32_max - 1, 1ull << 31, (1ull << 31) - 1};
  const std::uint64_t last_k = u32_max / d;
  const std::vector<std::uint64_t> multiples = {1, 2, 3, 7, 1000, last_k / 2, last_k - 1, last_k, last_k + 1};
  for (std::uint64_t k : multiples)
    for (std::uint64_t m = k * d; std::int64_t delta : {-1, 0, 1}) n.push_back(m + delta);
  std::mt19937_64 rng(d);
  for (int i = 0; i < random_count; ++i) n.push_back(rng() & u32_max);
  std::vector<std::uint32_t> out;
  for (std::uint64_t v : n)
    if (v <= u32_max) out.push_back(static_cast<std::uint32_t>(v));
  return out;
}

void expect_exact_division(std::uint32_t d, int random_count) {
  const FastDivisor fd = ops::make_fast_divisor(d);
  ASSERT_EQ(fd.divisor, d);
  for (std::uint32_t n : dividends_for(d, random_count))
    ASSERT_EQ(ops::fast_divide(n, fd), n / d) << n << " / " << d << " (multiplier " << fd.multiplier << ", shift "
                                              << fd.shift << ")";
}

TEST(FastDivisor, ExactForChosenDivisors) {
  for (std::uint32_t d : {1u, 2u, 3u, 5u, 7u, 31u, 32u, 33u, 224u, 1000u, 65535u, 65536u, 0x7FFFFFFFu, 0x80000000u,
                          0xFFFFFFFFu})
    expect_exact_division(d, 20000);
}

TEST(FastDivisor, ExactAroundEveryPowerOfTwo) {
  for (int k = 0; k <= 32; ++k)
    for (std::int64_t delta : {-1, 0, 1}) {
      const std::int64_t d = (std::int64_t{1} << k) + delta;
      if (d >= 1 && d <= static_cast<std::int64_t>(u32_max)) expect_exact_division(static_cast<std::uint32_t>(d), 200);
    }
}

TEST(FastDivisor, ExactForEverySmallDivisor) {
  // Kernel divisors are K/32 and R: small values are the common case.
  for (std::uint32_t d = 1; d <= 5000; ++d) expect_exact_division(d, 8);
}

}  // namespace
}  // namespace mxjit
