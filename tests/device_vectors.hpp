// Host vectors to and from device buffers, for the GPU tests.
#pragma once

#include <algorithm>
#include <vector>

#include "runtime/device.hpp"

namespace mxjit::testing {

// A device copy of `host` (at least 16 bytes, so an empty vector still has a valid pointer). The copy
// has landed when this returns: cuMemcpyHtoD from pageable memory may return before its DMA does, and
// the fixture's stream does not wait for the legacy stream, so a one-byte read-back (ordered after
// the copy on the legacy stream, and synchronous) waits for it.
template <class T>
runtime::DeviceBuffer to_device(const std::vector<T>& host) {
  runtime::DeviceBuffer buffer(std::max<std::size_t>(host.size() * sizeof(T), 16));
  buffer.upload(host.data(), host.size() * sizeof(T));
  unsigned char landed;
  buffer.download(&landed, 1);
  return buffer;
}

template <class T>
std::vector<T> from_device(const runtime::DeviceBuffer& buffer, std::size_t count) {
  std::vector<T> host(count);
  buffer.download(host.data(), count * sizeof(T));
  return host;
}

}  // namespace mxjit::testing
