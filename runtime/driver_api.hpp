// The CUDA Driver API, resolved at run time.
//
// mxjit never links libcuda: build boxes and CI have no driver at all, and a binary linked against
// the toolkit's stub would refuse to start there. The driver is dlopen'ed on first use and every
// entry point is fetched through cuGetProcAddress for the ABI of the cuda.h we were built with.
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>

#include <string>

namespace mxjit::runtime {

// Every Driver API entry point mxjit calls, with the ABI version of the prototype cuda.h declares
// under that name. cuGetProcAddress must be asked for exactly that version: asked for the toolkit's
// version it may return a newer ABI (CUDA 13's cuCtxGetDevice takes a second argument). The pointer
// types come from cudaTypedefs.h, so a wrong version is a compile error, not a crash.
#define MXJIT_DRIVER_FUNCTIONS(X)                                                                   \
  X(cuInit, 2000) X(cuDriverGetVersion, 2020) X(cuGetErrorName, 6000) X(cuGetErrorString, 6000)     \
  X(cuDeviceGet, 2000) X(cuDeviceGetCount, 2000) X(cuDeviceGetName, 2000)                           \
  X(cuDeviceGetAttribute, 2000) X(cuDevicePrimaryCtxRetain, 7000)                                   \
  X(cuDevicePrimaryCtxRelease, 11000) X(cuCtxSetCurrent, 4000)                                             \
  X(cuCtxGetDevice, 2000) X(cuStreamCreate, 2000)                         \
  X(cuStreamDestroy, 4000) X(cuStreamSynchronize, 2000) X(cuStreamBeginCapture, 10010)              \
  X(cuStreamEndCapture, 10000) X(cuGraphInstantiateWithFlags, 11040) X(cuGraphLaunch, 10000)                 \
  X(cuGraphDestroy, 10000) X(cuGraphExecDestroy, 10000) X(cuMemAlloc, 3020) X(cuMemFree, 3020)      \
  X(cuMemcpyHtoD, 3020) X(cuMemcpyDtoH, 3020) X(cuMemcpyDtoDAsync, 3020)      \
  X(cuMemsetD8Async, 3020) X(cuEventCreate, 2000)                         \
  X(cuEventDestroy, 4000) X(cuEventRecord, 2000) X(cuEventSynchronize, 2000)                        \
  X(cuEventElapsedTime, 12080) X(cuLibraryLoadData, 12000) X(cuLibraryUnload, 12000)                \
  X(cuLibraryGetKernel, 12000) X(cuKernelSetAttribute, 12000) X(cuKernelGetFunction, 12000)         \
  X(cuLaunchKernel, 4000) X(cuLaunchKernelEx, 11060)     \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor, 6050) X(cuTensorMapEncodeTiled, 12000)

struct DriverApi {
#define MXJIT_DECLARE_POINTER(name, version) PFN_##name##_v##version name = nullptr;
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
