// A specialization: one kernel template instantiated with named compile-time arguments for one arch.
//
// The generated source is tiny (DeepGEMM's way): an #include of the family's template header, with
// the instantiation requested through an NVRTC name expression. All real code lives in templates/.
#pragma once

#include <string>
#include <vector>

#include "jit/arch.hpp"

namespace mxjit::jit {

struct TemplateArg {
  std::string name;   // documents the argument in keys, logs and `mxjit cache ls`
  std::string value;  // C++ text of the template argument
};

struct KernelSpec {
  std::string family;              // template header templates/<family>.cuh; cache sub-folder
  std::string function;            // qualified kernel template name, e.g. mxjit::mxfp8_quantize_kernel
  std::vector<TemplateArg> args;   // in the template's declaration order
  Arch arch;

  std::string source() const;           // the generated translation unit
  // One line per field (family, function, arch, then name=value per argument): what a separate compiler
  // process is handed. from_text throws Error(invalid_argument) on anything else.
  std::string to_text() const;
  static KernelSpec from_text(const std::string& text);
  std::string name_expression() const;  // "&function<values...>" for nvrtcAddNameExpression
  std::string display_name() const;     // "family<name=value,...>@sm_90a" for humans
};

}  // namespace mxjit::jit
