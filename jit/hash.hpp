// xxHash, the one hash mxjit uses: XXH3-128 for cache keys, XXH3-64 for entry checksums.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mxjit::jit {

std::string xxh3_128_hex(std::string_view data);  // 32 lowercase hex digits
std::uint64_t xxh3_64(std::string_view data);

}  // namespace mxjit::jit
