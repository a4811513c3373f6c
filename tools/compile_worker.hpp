// Building kernels in child processes: `mxjit warmup` hands each kernel its caches lack to a child
// `mxjit compile-one`, so that a compiler that crashes (NVRTC can segfault, design.md 6) costs that one
// kernel, reported with its saved source, and never the whole run or a half-written cache entry (the
// disk cache publishes entries by rename).
#pragma once

#include <string>

#include "commands.hpp"
#include "jit/kernel_spec.hpp"

namespace mxjit::tools {

// Runs `mxjit compile-one` (this executable) on `spec` and waits for it; returns an error text naming
// the kernel (the child's message, or how it died and where its source was saved), empty on success.
// `abort_marker`, when not empty, is handed on (a test of the crash path; see compile-one).
std::string build_in_child(const jit::KernelSpec& spec, const std::string& abort_marker);

// The hidden `compile-one` subcommand (declared in commands.hpp): builds one spec (its to_text) into the
// caches; exit 0, or 1 with the error on stderr.

}  // namespace mxjit::tools
