#include <fmt/format.h>

#include "commands.hpp"
#include "jit/nvrtc_compiler.hpp"
#include "jit/runtime_state.hpp"
#include "mxjit/mxjit.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::tools {

Runner add_info_command(CLI::App& app) {
  app.add_subcommand("info", "versions, GPUs and the kernel cache");
  return [] {
    fmt::print("mxjit {}\nNVRTC {}\n", version(), jit::nvrtc_version_string());
    if (runtime::gpu_available()) {
      int v = 0;
      runtime::driver().cuDriverGetVersion(&v);
      fmt::print("CUDA driver API {}.{}\n", v / 1000, v % 1000 / 10);
    } else {
      fmt::print("CUDA driver: none\n");
    }
    const int gpus = gpu_count();
    if (gpus == 0) fmt::print("GPUs: none\n");
    for (int i = 0; i < gpus; ++i) {
      const GpuInfo g = gpu_info(i);
      fmt::print("GPU {}: {} ({}, {} SMs, {} MiB L2)\n", i, g.name, g.arch, g.sm_count, g.l2_bytes >> 20);
    }
    auto& state = jit::RuntimeState::get();
    std::uint64_t bytes = 0;
    const auto entries = state.disk().list();
    for (const auto& e : entries) bytes += e.bytes;
    fmt::print("cache dir: {} ({}; {} entries, {:.1f} MiB)\n", state.disk().root(),
               state.disk().enabled() ? "enabled" : "disabled", entries.size(), bytes / 1048576.0);
    return 0;
  };
}

}  // namespace mxjit::tools
