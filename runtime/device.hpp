// Devices, contexts, streams, memory and events: thin RAII over the Driver API.
#pragma once

#include <cuda.h>

#include <cstddef>
#include <string>
#include <utility>

#include "jit/arch.hpp"

namespace mxjit::runtime {

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  int l2_bytes = 0;
  int max_smem_per_block_optin = 0;  // bytes a kernel may request after raising its limit
  int smem_per_sm = 0;               // bytes of shared memory one SM holds
  jit::Arch arch;                    // the NVRTC target for this device (sm_90a on H100/H200)
};

int device_count();                      // 0 when there is no driver
const DeviceInfo& device_info(int ordinal);  // all devices queried once, then lock-free
int current_device();                    // device of the calling thread's current context

// Retains a device's primary context and makes it current on the constructing thread.
class PrimaryContext {
 public:
  explicit PrimaryContext(int ordinal);
  ~PrimaryContext();
  PrimaryContext(const PrimaryContext&) = delete;
  PrimaryContext& operator=(const PrimaryContext&) = delete;
  void make_current() const;
  CUcontext get() const { return ctx_; }
  int ordinal() const { return ordinal_; }

 private:
  int ordinal_;
  CUdevice dev_{};
  CUcontext ctx_{};
};

class Stream {
 public:
  Stream();  // non-blocking stream in the current context
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  CUstream get() const { return stream_; }
  void synchronize() const;

 private:
  CUstream stream_{};
};

// Owning device allocation.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept { swap(other); return *this; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  CUdeviceptr get() const { return ptr_; }
  std::size_t size() const { return bytes_; }
  // Returns once the bytes are in device memory, so work on any stream may read them next.
  void upload(const void* host, std::size_t bytes, std::size_t offset = 0);
  void download(void* host, std::size_t bytes, std::size_t offset = 0) const;
  void fill(unsigned char byte, CUstream stream = nullptr);

 private:
  void swap(DeviceBuffer& o) noexcept { std::swap(ptr_, o.ptr_); std::swap(bytes_, o.bytes_); }
  CUdeviceptr ptr_ = 0;
  std::size_t bytes_ = 0;
};

class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(CUstream stream);
  void synchronize() const;
  CUevent get() const { return event_; }
  // Milliseconds between two recorded events (both must have completed).
  static float elapsed_ms(const Event& start, const Event& stop);

 private:
  CUevent event_{};
};

}  // namespace mxjit::runtime
