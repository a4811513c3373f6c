#include "jit/kernel_spec.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

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

std::string KernelSpec::display_name() const {
  return fmt::format("{}<{}>@{}", family, joined(args, true), arch.name());
}

}  // namespace mxjit::jit
