// Small helpers shared by the unit tests (GoogleTest only; the suite does not link gmock).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "jit/log.hpp"
#include "mxjit/error.hpp"

namespace mxjit::testing {

// An H100 SXM's size, for the CPU tests of choices that depend on the GPU's (plans, tile heuristics).
constexpr int h100_sms = 132, h100_smem_per_sm = 228 * 1024;

// Runs body(i) for every i in [0, count) on the host's cores, i strided over the workers: the GPU tests'
// CPU side (operands, references) is what their time goes to.
template <class Body>
void parallel_for(std::size_t count, const Body& body) {
  const std::size_t workers = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 32);
  std::vector<std::thread> pool;
  for (std::size_t w = 0; w < std::min(workers, count); ++w)
    pool.emplace_back([&, w] {
      for (std::size_t i = w; i < count; i += workers) body(i);
    });
  for (std::thread& t : pool) t.join();
}

// EXPECT_CONTAINS(text, part): `text` contains `part`; prints both on failure.
inline ::testing::AssertionResult contains(const char* text_expr, const char* part_expr, const std::string& text,
                                           const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << text_expr << " does not contain " << part_expr << " (\"" << part
                                       << "\")\n  text: " << text;
}
#define EXPECT_CONTAINS(text, part) EXPECT_PRED_FORMAT2(::mxjit::testing::contains, text, part)

// "" where `got` and `want` ([rows, cols] row-major 16-bit outputs) hold the same bits, else how many
// elements differ and the first four, with both values: enough to tell one stale copy from a different
// order of sums.
inline std::string bits_differing(const std::vector<std::uint16_t>& got, const std::vector<std::uint16_t>& want,
                                  std::int64_t cols) {
  if (got.size() != want.size()) return fmt::format("{} elements, not {}", got.size(), want.size());
  std::size_t count = 0;
  std::string where;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i] && count++ < 4)
      where += fmt::format(" [{}, {}] {:#06x} vs {:#06x};", static_cast<std::int64_t>(i) / cols,
                           static_cast<std::int64_t>(i) % cols, got[i], want[i]);
  return count == 0 ? "" : fmt::format("{} of {} elements differ:{}", count, got.size(), where);
}

// Runs `body`, which must throw mxjit::Error with `code`; returns the message for further checks
// (empty, with a recorded failure, when it does not throw).
template <class Body>
std::string error_message(ErrorCode code, Body&& body) {
  try {
    body();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an Error(" << to_string(code) << ")";
  return {};
}

// A fresh directory under ::testing::TempDir(), removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string test = info ? info->name() : "none";
    for (char& c : test)
      if (c == '/') c = '_';  // parameterized test names
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("mxjit-" + tag + "-" + test + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& child) const { return (path_ / child).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// Sets the log level for a scope; by default silences expected warnings (damaged entries, refused
// writes).
class ScopedLogLevel {
 public:
  explicit ScopedLogLevel(LogLevel level = LogLevel::error) : saved_(jit::log_level()) { jit::set_log_level(level); }
  ~ScopedLogLevel() { jit::set_log_level(saved_); }
  ScopedLogLevel(const ScopedLogLevel&) = delete;
  ScopedLogLevel& operator=(const ScopedLogLevel&) = delete;

 private:
  LogLevel saved_;
};

}  // namespace mxjit::testing
