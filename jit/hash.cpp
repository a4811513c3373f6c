#include "jit/hash.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <fmt/format.h>

#include "jit/kernel_templates.hpp"

namespace mxjit::jit {

std::string xxh3_128_hex(std::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

std::uint64_t xxh3_64(std::string_view data) { return XXH3_64bits(data.data(), data.size()); }

const std::string& template_bundle_hash() {
  static const std::string hash = [] {
    std::string all;
    for (const EmbeddedFile& f : kernel_templates())
      all += fmt::format("{}\n{}\n{}\n", f.name, f.text.size(), f.text);
    return xxh3_128_hex(all);
  }();
  return hash;
}

}  // namespace mxjit::jit
