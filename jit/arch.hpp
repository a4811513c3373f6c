// A compilation target: compute capability plus NVRTC suffix ('a' = arch-specific features).
#pragma once

#include <string>
#include <string_view>

namespace mxjit::jit {

struct Arch {
  int major = 0, minor = 0;
  bool arch_specific = false;  // the 'a' suffix: wgmma, setmaxnreg, tcgen05 need it

  // sm_90 -> sm_90a, sm_100 -> sm_100a, sm_120 -> sm_120a, sm_89 -> sm_89, ...
  static Arch for_compute_capability(int major, int minor);
  // Parses "sm_90a", "sm_89", "sm_100a"; throws Error(invalid_argument) naming the accepted forms.
  static Arch parse(std::string_view text);

  std::string name() const;           // "sm_90a"
  int sm() const { return major * 10 + minor; }
  bool operator==(const Arch&) const = default;
};

}  // namespace mxjit::jit
