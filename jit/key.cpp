#include "jit/key.hpp"

#include <fmt/format.h>

#include "jit/embedded_templates.hpp"
#include "jit/hash.hpp"
#include "jit/nvrtc_compiler.hpp"
#include "jit/version.hpp"

namespace mxjit::jit {

CacheKey make_key(const KernelSpec& spec, const std::vector<std::string>& nvrtc_options,
                  const std::vector<std::pair<std::string, std::string>>& env) {
  std::string r;
  auto line = [&r](std::string_view name, std::string_view value) { r += fmt::format("{}={}\n", name, value); };
  line("format", std::to_string(cache_format_version));
  line("mxjit", mxjit_version());
  line("templates", template_bundle_hash());
  line("family", spec.family);
  line("function", spec.function);
  for (const TemplateArg& a : spec.args) line("arg." + a.name, a.value);
  line("arch", spec.arch.name());
  line("nvrtc", nvrtc_version_string());
  for (const std::string& o : nvrtc_options) line("option", o);
  for (const auto& [name, value] : env) line("env." + name, value);
  line("source", xxh3_128_hex(spec.source()));
  return CacheKey{r, xxh3_128_hex(r)};
}

}  // namespace mxjit::jit
