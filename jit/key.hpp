// The cache key of a compiled kernel: a canonical text record of everything that changes the
// binary, and its XXH3-128. The record is stored in each cache entry and compared on load, so a hash
// collision or a stale entry is never served.
#pragma once

#include <string>
#include <vector>

#include "jit/kernel_spec.hpp"

namespace mxjit::jit {

inline constexpr int cache_format_version = 1;

struct CacheKey {
  std::string record;  // "name=value" lines
  std::string hex;     // XXH3-128 of the record
};

// `env` holds the (name, value) pairs of the code-changing environment variables.
CacheKey make_key(const KernelSpec& spec, const std::vector<std::string>& nvrtc_options,
                  const std::vector<std::pair<std::string, std::string>>& env);

}  // namespace mxjit::jit
