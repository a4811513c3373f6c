// The kernel templates NVRTC compiles and the cache key hashes. Normally the copies embedded at build
// time; with MXJIT_TEMPLATE_DIR set (kernel development), the files of the same names read from that
// directory once per process, so an edited template runs without rebuilding mxjit. Their texts enter
// template_bundle_hash, so kernels compiled from them never meet the embedded ones' cache entries.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "jit/embedded_templates.hpp"

namespace mxjit::jit {

// One template read from disk: the name as kernels #include it, and its text.
struct TemplateFile {
  std::string name, text;
};

// Every embedded template's name, read from `dir`. Throws Error(invalid_argument) naming the directory
// and the first file that is missing or unreadable (a partial set would mix old and new code).
std::vector<TemplateFile> read_template_dir(const std::string& dir);

// The templates in use: the embedded ones, or MXJIT_TEMPLATE_DIR's (RuntimeState's configuration).
std::span<const EmbeddedFile> kernel_templates();

}  // namespace mxjit::jit
