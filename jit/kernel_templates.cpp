#include "jit/kernel_templates.hpp"

#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "jit/log.hpp"
#include "jit/runtime_state.hpp"
#include "mxjit/error.hpp"

namespace mxjit::jit {

std::vector<TemplateFile> read_template_dir(const std::string& dir) {
  std::vector<TemplateFile> files;
  for (const EmbeddedFile& f : embedded_templates()) {
    const std::string path = fmt::format("{}/{}", dir, f.name);
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw Error(ErrorCode::invalid_argument,
                  fmt::format("MXJIT_TEMPLATE_DIR='{}' lacks {} (it must hold every template of templates/)", dir,
                              f.name));
    // Read whole (an empty file is a valid, if useless, template; a stream insert would call it a failure).
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) throw Error(ErrorCode::invalid_argument, fmt::format("MXJIT_TEMPLATE_DIR: cannot read {}", path));
    files.push_back({std::string(f.name), std::move(text)});
  }
  return files;
}

std::span<const EmbeddedFile> kernel_templates() {
  struct FromDisk {
    std::vector<TemplateFile> storage;
    std::vector<EmbeddedFile> views;
  };
  static const FromDisk disk = [] {
    FromDisk d;
    const std::string& dir = RuntimeState::get().config().template_dir;
    if (dir.empty()) return d;
    d.storage = read_template_dir(dir);
    for (const TemplateFile& f : d.storage) d.views.push_back({f.name, f.text});
    log(LogLevel::warn, "compiling kernels from the templates in {} (MXJIT_TEMPLATE_DIR), not the embedded ones", dir);
    return d;
  }();
  return disk.views.empty() ? embedded_templates() : std::span<const EmbeddedFile>(disk.views);
}

}  // namespace mxjit::jit
