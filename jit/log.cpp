#include "jit/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace mxjit::jit {
namespace {
std::atomic<int> current_level{static_cast<int>(LogLevel::warn)};
constexpr const char* names[] = {"error", "warn", "info", "debug"};
}  // namespace

void set_log_level(LogLevel level) { current_level.store(static_cast<int>(level)); }
LogLevel log_level() { return static_cast<LogLevel>(current_level.load(std::memory_order_relaxed)); }

void log_line(LogLevel level, std::string_view text) {
  static std::mutex mutex;  // keeps lines from concurrent compiles whole
  std::lock_guard lock(mutex);
  std::fprintf(stderr, "[mxjit %s] %.*s\n", names[static_cast<int>(level)], static_cast<int>(text.size()),
               text.data());
}

}  // namespace mxjit::jit
