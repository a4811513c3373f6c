// NVRTC: generated source + embedded headers -> CUBIN for one exact target.
#pragma once

#include <string>
#include <vector>

#include "jit/kernel_spec.hpp"

namespace mxjit::jit {

struct CompileOutput {
  std::string cubin;         // the binary, ready for cuLibraryLoadData
  std::string lowered_name;  // mangled name of the instantiated kernel
  std::string log;           // NVRTC's log (warnings)
  double milliseconds = 0;
};

std::string nvrtc_version_string();  // "13.0"

// The options every mxjit kernel is compiled with, canonical order. They enter the cache key.
std::vector<std::string> nvrtc_options(const Arch& arch, bool lineinfo);

// nvrtc_options plus ptxas's report of each kernel's registers and spills in the log (tests read it).
// NVRTC 12.9+ reuses programs it compiled before (the driver's compute cache, so only where a driver is
// installed) and a reused program comes with an empty log: these options turn that reuse off.
std::vector<std::string> nvrtc_resource_report_options(const Arch& arch);

// Compiles spec for its arch. On failure saves the generated source under `failure_dir` and throws
// Error(compile_error) naming the kernel, the options, the NVRTC log and the saved source's path.
CompileOutput compile_cubin(const KernelSpec& spec, const std::vector<std::string>& options,
                            const std::string& failure_dir);

// PTX of the same specialization (virtual target compute_XXa), for MXJIT_DUMP=ptx.
std::string compile_ptx(const KernelSpec& spec, const std::vector<std::string>& options);

}  // namespace mxjit::jit
