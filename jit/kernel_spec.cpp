#include "jit/kernel_spec.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sstream>

#include "mxjit/error.hpp"

namespace mxjit::jit {
namespace {
std::string joined(const std::vector<TemplateArg>& args, bool with_names) {
  std::string out;
  for (const TemplateArg& a : args) {
    if (!out.empty()) out += with_names ? "," : ", ";
    out += with_names ? fmt::format("{}={}", a.name, a.value) : a.value;
  }
  return out;
}
}  // namespace

std::string KernelSpec::source() const {
  return fmt::format("// mxjit generated: {}\n#include \"{}.cuh\"\n", display_name(), family);
}

std::string KernelSpec::name_expression() const {
  return args.empty() ? "&" + function : fmt::format("&{}<{}>", function, joined(args, false));
}

std::string KernelSpec::to_text() const {
  std::string text = fmt::format("{}\n{}\n{}\n", family, function, arch.name());
  for (const TemplateArg& a : args) text += fmt::format("{}={}\n", a.name, a.value);
  return text;
}

KernelSpec KernelSpec::from_text(const std::string& text) {
  std::istringstream in(text);
  std::string family, function, arch;
  if (!std::getline(in, family) || !std::getline(in, function) || !std::getline(in, arch) || family.empty() ||
      function.empty())
    throw Error(ErrorCode::invalid_argument, fmt::format("not a kernel spec (family, function, arch lines): '{}'", text));
  KernelSpec spec{family, function, {}, Arch::parse(arch)};
  for (std::string line; std::getline(in, line);) {
    const std::size_t eq = line.find('=');
    if (eq == 0 || eq == std::string::npos)
      throw Error(ErrorCode::invalid_argument, fmt::format("kernel spec argument '{}' is not name=value", line));
    spec.args.push_back({line.substr(0, eq), line.substr(eq + 1)});
  }
  return spec;
}

std::string KernelSpec::display_name() const {
  return fmt::format("{}<{}>@{}", family, joined(args, true), arch.name());
}

}  // namespace mxjit::jit
