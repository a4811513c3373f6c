// The kernel templates of templates/, compiled into the library as strings (cmake/embed_templates.cmake).
#pragma once

#include <span>
#include <string_view>

namespace mxjit::jit {

struct EmbeddedFile {
  std::string_view name;  // file name, as the kernels #include it
  std::string_view text;
};

std::span<const EmbeddedFile> embedded_templates();

// XXH3-128 of every template in use (kernel_templates(): names and contents), as 32 hex digits. Any
// template edit changes it.
const std::string& template_bundle_hash();

}  // namespace mxjit::jit
