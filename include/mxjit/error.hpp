// mxjit: the one exception type every C++ entry point throws.
#pragma once

#include <stdexcept>
#include <string>

namespace mxjit {

// Stable categories; the C API returns them as mxjit_status values (same numbers).
enum class ErrorCode : int {
  invalid_argument = 1,  // a shape, dtype, pointer or option broke a documented rule
  unsupported = 2,       // valid request this build or device cannot serve
  no_device = 3,         // no CUDA driver or no GPU
  cuda_error = 4,        // a Driver API call failed
  compile_error = 5,     // NVRTC rejected a generated kernel
  io_error = 6,          // the file system failed us (cache, dumps)
  internal = 7,          // a bug in mxjit
};

const char* to_string(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace mxjit
