// The hot-path kernel lookup of an op: a fixed table of (device, variant) -> loaded kernel.
//
// A cached launch is one atomic load; only the first call for a slot takes the JIT path (memory,
// disk or NVRTC) through RuntimeState, which also guarantees one compile per key.
#pragma once

#include <atomic>

#include <fmt/format.h>

#include "jit/runtime_state.hpp"
#include "mxjit/error.hpp"

namespace mxjit::ops {

template <int Variants>
class KernelTable {
 public:
  static constexpr int max_devices = 64;

  // `make_spec()` builds the KernelSpec of this variant for the device; called only on a miss.
  template <class MakeSpec>
  const runtime::Kernel& get(int device, int variant, runtime::LaunchShape shape, MakeSpec&& make_spec) {
    if (device < 0 || device >= max_devices)
      throw Error(ErrorCode::unsupported, fmt::format("device ordinal {} exceeds mxjit's limit of {}", device, max_devices));
    std::atomic<const runtime::Kernel*>& slot = slots_[device][variant];
    if (const runtime::Kernel* k = slot.load(std::memory_order_acquire)) return *k;
    const runtime::Kernel& k = jit::RuntimeState::get().load(make_spec(), device, shape);
    slot.store(&k, std::memory_order_release);
    return k;
  }

 private:
  std::atomic<const runtime::Kernel*> slots_[max_devices][Variants] = {};
};

}  // namespace mxjit::ops
