#include "runtime/driver_api.hpp"

#include <dlfcn.h>

#include <mutex>

#include <fmt/format.h>

#include "mxjit/error.hpp"

namespace mxjit::runtime {
namespace {

struct LoadResult {
  DriverApi api;
  std::string failure;  // empty on success
};

using GetProcAddress = CUresult (*)(const char*, void**, int, cuuint64_t, CUdriverProcAddressQueryResult*);

LoadResult load_driver() {
  LoadResult result;
  void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    result.failure = fmt::format("no CUDA driver: dlopen(libcuda.so.1) failed: {}", why ? why : "unknown");
    return result;
  }
  auto get_proc = reinterpret_cast<GetProcAddress>(dlsym(handle, "cuGetProcAddress_v2"));
  if (get_proc == nullptr) {
    result.failure = "CUDA driver too old: libcuda.so.1 has no cuGetProcAddress_v2 (need a CUDA 12+ driver)";
    return result;
  }
  std::string missing;
#define MXJIT_RESOLVE(name, version)                                                                        \
  {                                                                                                  \
    void* fn = nullptr;                                                                              \
    CUdriverProcAddressQueryResult found{};                                                          \
    if (get_proc(#name, &fn, version, CU_GET_PROC_ADDRESS_DEFAULT, &found) != CUDA_SUCCESS ||         \
        found != CU_GET_PROC_ADDRESS_SUCCESS || fn == nullptr)                                       \
      missing += " " #name;                                                                          \
    result.api.name = reinterpret_cast<decltype(result.api.name)>(fn);                               \
  }
  MXJIT_DRIVER_FUNCTIONS(MXJIT_RESOLVE)
#undef MXJIT_RESOLVE
  if (!missing.empty()) {
    result.failure = fmt::format("the CUDA driver lacks entry points mxjit needs:{}", missing);
    return result;
  }
  if (CUresult r = result.api.cuInit(0); r != CUDA_SUCCESS) {
    const char* name = nullptr;
    result.api.cuGetErrorName(r, &name);
    result.failure = fmt::format("cuInit failed: {}", name ? name : "unknown error");
    return result;
  }
  int count = 0;
  if (result.api.cuDeviceGetCount(&count) != CUDA_SUCCESS || count == 0)
    result.failure = "the CUDA driver reports no GPU";
  return result;
}

const LoadResult& loaded() {
  static const LoadResult result = load_driver();  // thread-safe, once per process
  return result;
}

}  // namespace

bool gpu_available() noexcept {
  try {
    return loaded().failure.empty();
  } catch (...) {
    return false;
  }
}

const DriverApi& driver() {
  const LoadResult& r = loaded();
  if (!r.failure.empty()) throw Error(ErrorCode::no_device, r.failure);
  return r.api;
}

std::string describe(CUresult result) {
  const LoadResult& r = loaded();
  const char* name = nullptr;
  const char* text = nullptr;
  if (r.api.cuGetErrorName) r.api.cuGetErrorName(result, &name);
  if (r.api.cuGetErrorString) r.api.cuGetErrorString(result, &text);
  return fmt::format("{} ({})", name ? name : fmt::format("CUresult {}", static_cast<int>(result)),
                     text ? text : "no description");
}

void throw_cuda_error(const char* call, CUresult result, const char* kernel) {
  std::string where = kernel ? fmt::format(" for kernel {}", kernel) : std::string();
  throw Error(ErrorCode::cuda_error, fmt::format("{} failed{}: {}", call, where, describe(result)));
}

}  // namespace mxjit::runtime
