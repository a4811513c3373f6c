// One line of progress on stderr for long work (`mxjit warmup`, `mxjit tune`). On a terminal the line is
// redrawn in place and lines that must stay (results, failures) are printed above it; elsewhere (a log,
// a pipe) no bar is drawn and the caller prints plain lines instead (see active()).
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

namespace mxjit::tools {

class ProgressBar {
 public:
  // Draws only when `enabled` (false for -q) and stderr is a terminal.
  explicit ProgressBar(bool enabled = true);
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  bool active() const { return active_; }
  // Redraws the bar: `done` of `total` and what is being worked on. Nothing when not active.
  void update(std::size_t done, std::size_t total, std::string_view label);
  // Prints `line` and a newline to `stream`, above the bar when one is drawn.
  void print(std::FILE* stream, std::string_view line);
  // Erases the bar for good, before a summary is printed.
  void finish();

 private:
  void erase();

  bool active_;
  std::string drawn_;  // the bar as last drawn, redrawn after print()
};

}  // namespace mxjit::tools
