#include <fmt/format.h>

#include <thread>

#include "commands.hpp"
#include "jit/runtime_state.hpp"
#include "jit/warmup.hpp"
#include "ops/gemm.hpp"
#include "ops/quantize.hpp"
#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::tools {
namespace {

const char* origin_name(jit::Origin o) {
  switch (o) {
    case jit::Origin::memory: return "memory hit";
    case jit::Origin::disk: return "disk hit";
    case jit::Origin::compiled: return "compiled";
  }
  return "?";
}

}  // namespace

Runner add_warmup_command(CLI::App& app) {
  struct Options {
    std::string arch;
    int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("warmup", "compile every kernel the ops need into the disk cache");
  cmd->add_option("--arch", options->arch, "target, e.g. sm_90a (default: the GPU present, else sm_90a)");
  cmd->add_option("-j,--jobs", options->jobs, "parallel compiles")->check(CLI::PositiveNumber);
  return [options] {
    const jit::Arch arch = !options->arch.empty()       ? jit::Arch::parse(options->arch)
                           : runtime::gpu_available()   ? runtime::device_info(0).arch
                                                        : jit::Arch::parse("sm_90a");
    auto& state = jit::RuntimeState::get();
    std::vector<jit::KernelSpec> specs = ops::all_quantize_kernel_specs(arch);
    for (jit::KernelSpec& spec : ops::all_gemm_kernel_specs(arch)) specs.push_back(std::move(spec));
    fmt::print("warming {} kernels for {} into {} with {} jobs\n", specs.size(), arch.name(), state.disk().root(),
               options->jobs);
    const jit::WarmupReport report =
        jit::warmup(state.kernels(), specs, options->jobs, [](std::size_t done, std::size_t total, const jit::WarmupItem& item) {
          if (item.error.empty())
            fmt::print("[{:>3}/{}] {:<11} {:8.1f} ms  {}\n", done, total, origin_name(item.origin), item.milliseconds, item.name);
          else
            fmt::print("[{:>3}/{}] FAILED  {}\n{}\n", done, total, item.name, item.error);
          std::fflush(stdout);
        });
    int compiled = 0, hits = 0;
    for (const auto& item : report.items) (item.origin == jit::Origin::compiled ? compiled : hits) += item.error.empty();
    fmt::print("done in {:.1f} ms: {} compiled, {} cache hits, {} failed; disk cache {}\n", report.wall_ms, compiled,
               hits, report.failures(), state.disk().enabled() ? "up to date" : "unavailable (kernels kept in memory only)");
    return report.failures() == 0 ? 0 : 1;
  };
}

}  // namespace mxjit::tools
