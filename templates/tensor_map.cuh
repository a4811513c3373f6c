// A TMA tensor map (the driver's opaque 128-byte CUtensorMap) as a kernel parameter, shared verbatim by
// host and device code: the host encodes it for each launch (runtime/tensor_map.hpp) and the kernel takes
// it as a __grid_constant__ parameter, whose address the TMA instructions read.
#pragma once

namespace mxjit {

struct alignas(64) TensorMap {
  unsigned long long bits[16];
};

}  // namespace mxjit
