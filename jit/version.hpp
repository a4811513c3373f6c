// The library version, as CMake's project() states it.
#pragma once

namespace mxjit::jit {
const char* mxjit_version();
}
