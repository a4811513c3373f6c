#include "progress_bar.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace mxjit::tools {
namespace {

int terminal_columns() {
  winsize size{};
  return ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 ? size.ws_col : 80;
}

}  // namespace

ProgressBar::ProgressBar(bool enabled) : active_(enabled && ::isatty(STDERR_FILENO)) {}

void ProgressBar::update(std::size_t done, std::size_t total, std::string_view label) {
  if (!active_) return;
  constexpr std::size_t width = 24;
  const std::size_t filled = total ? std::min(width, done * width / total) : width;
  std::string line = fmt::format("[{}{}] {}/{} {}", std::string(filled, '#'), std::string(width - filled, '.'), done,
                                 total, label);
  // One column short of the terminal: a full-width line would wrap and break the in-place redraw.
  line.resize(std::min<std::size_t>(line.size(), static_cast<std::size_t>(terminal_columns() - 1)));
  drawn_ = std::move(line);
  std::fprintf(stderr, "\r\033[K%s", drawn_.c_str());
  std::fflush(stderr);
}

void ProgressBar::print(std::FILE* stream, std::string_view line) {
  erase();
  fmt::print(stream, "{}\n", line);
  std::fflush(stream);
  if (active_ && !drawn_.empty()) {
    std::fprintf(stderr, "%s", drawn_.c_str());
    std::fflush(stderr);
  }
}

void ProgressBar::finish() {
  erase();
  active_ = false;
}

void ProgressBar::erase() {
  if (!active_ || drawn_.empty()) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace mxjit::tools
