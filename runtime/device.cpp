#include "runtime/device.hpp"

#include <vector>

#include <fmt/format.h>

#include "mxjit/error.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::runtime {
namespace {

int attribute(CUdevice dev, CUdevice_attribute attr) {
  int value = 0;
  MXJIT_CU(cuDeviceGetAttribute, &value, attr, dev);
  return value;
}

DeviceInfo query(int ordinal) {
  CUdevice dev{};
  MXJIT_CU(cuDeviceGet, &dev, ordinal);
  DeviceInfo info;
  info.ordinal = ordinal;
  char name[256] = {};
  MXJIT_CU(cuDeviceGetName, name, sizeof(name), dev);
  info.name = name;
  info.cc_major = attribute(dev, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
  info.cc_minor = attribute(dev, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
  info.sm_count = attribute(dev, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  info.l2_bytes = attribute(dev, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
  info.max_smem_per_block_optin = attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
  info.smem_per_sm = attribute(dev, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR);
  info.arch = jit::Arch::for_compute_capability(info.cc_major, info.cc_minor);
  return info;
}

}  // namespace

int device_count() {
  if (!gpu_available()) return 0;
  int count = 0;
  MXJIT_CU(cuDeviceGetCount, &count);
  return count;
}

// Queried once for every device; afterwards a lock-free read (ops ask on every launch).
static const std::vector<DeviceInfo>& all_devices() {
  static const std::vector<DeviceInfo> devices = [] {
    std::vector<DeviceInfo> out;
    for (int i = 0, n = device_count(); i < n; ++i) out.push_back(query(i));
    return out;
  }();
  return devices;
}

const DeviceInfo& device_info(int ordinal) {
  const auto& devices = all_devices();
  if (ordinal < 0 || ordinal >= static_cast<int>(devices.size()))
    throw Error(ErrorCode::invalid_argument,
                fmt::format("device ordinal {} out of range: this machine has {} GPU(s)", ordinal, devices.size()));
  return devices[ordinal];
}

int current_device() {
  CUdevice dev{};
  CUresult r = driver().cuCtxGetDevice(&dev);
  if (r == CUDA_ERROR_INVALID_CONTEXT)
    throw Error(ErrorCode::invalid_argument,
                "no current CUDA context on this thread: make the device's context current first "
                "(cudaSetDevice, or mxjit_device_activate in the C API)");
  if (r != CUDA_SUCCESS) throw_cuda_error("cuCtxGetDevice", r);
  return static_cast<int>(dev);
}

PrimaryContext::PrimaryContext(int ordinal) : ordinal_(ordinal) {
  device_info(ordinal);  // validates the ordinal
  MXJIT_CU(cuDeviceGet, &dev_, ordinal);
  MXJIT_CU(cuDevicePrimaryCtxRetain, &ctx_, dev_);
  make_current();
}

PrimaryContext::~PrimaryContext() { driver().cuDevicePrimaryCtxRelease(dev_); }

void PrimaryContext::make_current() const { MXJIT_CU(cuCtxSetCurrent, ctx_); }

Stream::Stream() { MXJIT_CU(cuStreamCreate, &stream_, CU_STREAM_NON_BLOCKING); }
Stream::~Stream() { driver().cuStreamDestroy(stream_); }
void Stream::synchronize() const { MXJIT_CU(cuStreamSynchronize, stream_); }

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes > 0) MXJIT_CU(cuMemAlloc, &ptr_, bytes);
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) driver().cuMemFree(ptr_);
}

static void check_range(std::size_t offset, std::size_t bytes, std::size_t size) {
  if (offset > size || bytes > size - offset)
    throw Error(ErrorCode::invalid_argument,
                fmt::format("copy of {} bytes at offset {} overruns a buffer of {} bytes", bytes, offset, size));
}

void DeviceBuffer::upload(const void* host, std::size_t bytes, std::size_t offset) {
  check_range(offset, bytes, bytes_);
  if (!bytes) return;
  MXJIT_CU(cuMemcpyHtoD, ptr_ + offset, host, bytes);
  // From pageable memory cuMemcpyHtoD may return once the bytes are staged, before the DMA lands, and a
  // non-blocking stream does not wait for the legacy stream it ran on: wait for it here.
  MXJIT_CU(cuStreamSynchronize, nullptr);
}

void DeviceBuffer::download(void* host, std::size_t bytes, std::size_t offset) const {
  check_range(offset, bytes, bytes_);
  if (bytes) MXJIT_CU(cuMemcpyDtoH, host, ptr_ + offset, bytes);
}

void DeviceBuffer::fill(unsigned char byte, CUstream stream) {
  if (bytes_) MXJIT_CU(cuMemsetD8Async, ptr_, byte, bytes_, stream);
}

Event::Event() { MXJIT_CU(cuEventCreate, &event_, CU_EVENT_DEFAULT); }
Event::~Event() { driver().cuEventDestroy(event_); }
void Event::record(CUstream stream) { MXJIT_CU(cuEventRecord, event_, stream); }
void Event::synchronize() const { MXJIT_CU(cuEventSynchronize, event_); }

float Event::elapsed_ms(const Event& start, const Event& stop) {
  float ms = 0.f;
  MXJIT_CU(cuEventElapsedTime, &ms, start.event_, stop.event_);
  return ms;
}

}  // namespace mxjit::runtime
