#include "jit/arch.hpp"

#include <charconv>

#include <fmt/format.h>

#include "mxjit/error.hpp"

namespace mxjit::jit {

Arch Arch::for_compute_capability(int major, int minor) {
  // Architectures with an 'a' target get it: mxjit always compiles for the exact chip it runs on.
  const bool has_a_target = major >= 9;
  return Arch{major, minor, has_a_target};
}

Arch Arch::parse(std::string_view text) {
  auto fail = [&] {
    return Error(ErrorCode::invalid_argument,
                 fmt::format("invalid architecture '{}': expected sm_<major><minor>[a], e.g. sm_90a, sm_89, sm_100a",
                             text));
  };
  if (!text.starts_with("sm_")) throw fail();
  std::string_view digits = text.substr(3);
  bool suffix = !digits.empty() && digits.back() == 'a';
  if (suffix) digits.remove_suffix(1);
  int value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() || value < 50 || value > 199) throw fail();
  Arch arch{value / 10, value % 10, suffix};
  if (suffix && arch.major < 9)
    throw Error(ErrorCode::invalid_argument,
                fmt::format("invalid architecture '{}': the 'a' suffix exists from sm_90 on", text));
  return arch;
}

std::string Arch::name() const { return fmt::format("sm_{}{}{}", major, minor, arch_specific ? "a" : ""); }

}  // namespace mxjit::jit
