// Leveled logging to stderr, the one place mxjit talks to the user outside of exceptions.
#pragma once

#include <string_view>

#include <fmt/format.h>

#include "mxjit/types.hpp"

namespace mxjit::jit {

using mxjit::LogLevel;

void set_log_level(LogLevel level);
LogLevel log_level();
void log_line(LogLevel level, std::string_view text);

template <class... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (static_cast<int>(level) <= static_cast<int>(log_level()))
    log_line(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace mxjit::jit
