// The CUDA Driver API, resolved at run time.
//
// mxjit never links libcuda: build boxes and CI have no driver at all, and a binary linked against
// the toolkit's stub would refuse to start there. The driver is dlopen'ed on first use and every
// entry point is fetched through cuGetProcAddress for the ABI of the cuda.h we were built with.
#pragma once

#include <cuda.h>

#include <string>

namespace mxjit::runtime {

// Every Driver API entry point mxjit calls. X(name) expands once per function.
#define MXJIT_DRIVER_FUNCTIONS(X)                                                                 \
  X(cuInit) X(cuDriverGetVersion) X(cuGetErrorName) X(cuGetErrorString) X(cuDeviceGet)            \
  X(cuDeviceGetCount) X(cuDeviceGetName) X(cuDeviceGetAttribute) X(cuDevicePrimaryCtxRetain)      \
  X(cuDevicePrimaryCtxRelease) X(cuCtxSetCurrent) X(cuCtxGetCurrent) X(cuCtxGetDevice)            \
  X(cuCtxSynchronize) X(cuStreamCreate) X(cuStreamDestroy) X(cuStreamSynchronize)                 \
  X(cuStreamBeginCapture) X(cuStreamEndCapture) X(cuGraphInstantiate) X(cuGraphLaunch)            \
  X(cuGraphDestroy) X(cuGraphExecDestroy) X(cuMemAlloc) X(cuMemFree) X(cuMemGetInfo)              \
  X(cuMemcpyHtoD) X(cuMemcpyDtoH) X(cuMemcpyDtoDAsync) X(cuMemsetD8Async) X(cuMemsetD32Async)     \
  X(cuEventCreate) X(cuEventDestroy) X(cuEventRecord) X(cuEventSynchronize)                       \
  X(cuEventElapsedTime) X(cuLibraryLoadData) X(cuLibraryUnload) X(cuLibraryGetKernel)             \
  X(cuKernelSetAttribute) X(cuKernelGetFunction) X(cuFuncGetAttribute) X(cuLaunchKernel)          \
  X(cuLaunchKernelEx)

struct DriverApi {
#define MXJIT_DECLARE_POINTER(name) decltype(&::name) name = nullptr;
  MXJIT_DRIVER_FUNCTIONS(MXJIT_DECLARE_POINTER)
#undef MXJIT_DECLARE_POINTER
};

// True when libcuda.so.1 loads, cuInit succeeds and at least one device exists. Never throws.
bool gpu_available() noexcept;

// The resolved driver; throws Error(no_device) with the reason when there is none.
const DriverApi& driver();

// Human-readable "CUDA_ERROR_X (text)" for a result code; works without a driver too.
std::string describe(CUresult result);

// Throws Error(cuda_error) naming the call, the CUresult and (when given) the kernel.
[[noreturn]] void throw_cuda_error(const char* call, CUresult result, const char* kernel = nullptr);

}  // namespace mxjit::runtime

// Calls driver().fn(args...) and throws a descriptive Error on failure.
#define MXJIT_CU(fn, ...)                                                          \
  do {                                                                             \
    CUresult mxjit_cu_result_ = ::mxjit::runtime::driver().fn(__VA_ARGS__);        \
    if (mxjit_cu_result_ != CUDA_SUCCESS)                                          \
      ::mxjit::runtime::throw_cuda_error(#fn, mxjit_cu_result_);                   \
  } while (0)
