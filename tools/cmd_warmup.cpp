// `mxjit warmup`: compile kernels into the disk cache ahead of serving. With --model or --shapes, the
// kernels the linear and MoE methods need for those layers and token counts (ops::layer_kernel_specs,
// what mxjit::warmup_layers builds); without, every kernel the ops dispatch to for the architecture.
// Each kernel the caches lack is compiled in a child process (compile_worker.hpp).
#include <fmt/format.h>

#include <map>
#include <thread>

#include "commands.hpp"
#include "compile_worker.hpp"
#include "jit/runtime_state.hpp"
#include "jit/warmup.hpp"
#include "layer_args.hpp"
#include "mxjit/warmup.hpp"
#include "ops/gemm.hpp"
#include "ops/grouped_gemm.hpp"
#include "ops/layer_kernels.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/quantize.hpp"
#include "progress_bar.hpp"
#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::tools {
namespace {

struct Options {
  std::string arch, model, shapes, tokens = "1,16,64,256,2048,8192";
  int tp = 1, ep = 1;
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string crash_marker;  // tests: kernels whose name contains it crash their compiler process
};

// One kernel done: on a terminal the progress bar moves (failures print above it); elsewhere a line each.
void print_event(ProgressBar& bar, const WarmupEvent& e) {
  if (!e.error.empty())
    bar.print(stdout, fmt::format("[{:>3}/{}] FAILED  {}\n{}", e.done, e.total, e.kernel, e.error));
  else if (!bar.active())
    bar.print(stdout, fmt::format("[{:>3}/{}] {:<9} {:8.1f} ms  {}", e.done, e.total,
                                  e.compiled ? "compiled" : "cache hit", e.milliseconds, e.kernel));
  bar.update(e.done, e.total, e.kernel);
}

// Builds `specs`, each missing one in a child process, with a progress bar; prints the summary line.
int run_warmup(const std::vector<jit::KernelSpec>& specs, const Options& o) {
  ProgressBar bar;
  const jit::WarmupReport r = jit::warmup(
      jit::RuntimeState::get().kernels(), specs, o.jobs,
      [&](std::size_t done, std::size_t total, const jit::WarmupItem& item) {
        print_event(bar, {done, total, item.name, item.origin == jit::Origin::compiled, item.milliseconds, item.error});
      },
      [&](const jit::KernelSpec& spec) { return build_in_child(spec, o.crash_marker); });
  WarmupSummary s{r.items.size(), 0, static_cast<std::size_t>(r.failures()), r.wall_ms};
  for (const auto& item : r.items) s.compiled += item.error.empty() && item.origin == jit::Origin::compiled;
  bar.finish();
  fmt::print("done in {:.1f} ms: {} compiled, {} cache hits, {} failed; disk cache {}\n", s.wall_ms, s.compiled,
             s.kernels - s.compiled - s.failed, s.failed,
             jit::RuntimeState::get().disk().enabled() ? "up to date" : "unavailable (kernels kept in memory only)");
  return s.failed == 0 ? 0 : 1;
}

}  // namespace

Runner add_warmup_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("warmup", "compile kernels into the disk cache ahead of serving");
  cmd->add_option("--arch", o->arch, "target, e.g. sm_90a (default: the GPU present, else sm_90a)");
  cmd->add_option("-j,--jobs", o->jobs, "parallel compiles")->check(CLI::PositiveNumber);
  cmd->add_option("--model", o->model, "a Hugging Face style config.json (see tools/models/)")->check(CLI::ExistingFile);
  cmd->add_option("--tp", o->tp, "tensor-parallel size the model is sharded with")->check(CLI::PositiveNumber);
  cmd->add_option("--ep", o->ep,
                  "expert-parallel size: each rank holds experts/N routed experts, split by the remaining --tp/N "
                  "ranks (default 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--shapes", o->shapes, "explicit linear layers, N:K[,N:K...]");
  cmd->add_option("--tokens", o->tokens, "token counts (M) to expect, comma-separated");
  cmd->add_option("--test-crash", o->crash_marker, "kernels whose name contains this crash their compiler (tests)")
      ->group("");
  return [o] {
    const std::string arch = !o->arch.empty()            ? jit::Arch::parse(o->arch).name()
                             : runtime::gpu_available()  ? runtime::device_info(0).arch.name()
                                                         : "sm_90a";
    auto& state = jit::RuntimeState::get();
    if (o->model.empty() && o->shapes.empty()) {  // everything the ops can dispatch to
      const jit::Arch target = jit::Arch::parse(arch);
      std::map<std::string, jit::KernelSpec> unique;  // the MoE kernels of bf16 and fp16 share some
      auto add = [&](std::vector<jit::KernelSpec> more) {
        for (jit::KernelSpec& spec : more) unique.emplace(spec.display_name(), std::move(spec));
      };
      add(ops::all_quantize_kernel_specs(target));
      add(ops::all_gemm_kernel_specs(target));
      add(ops::all_grouped_gemm_kernel_specs(target));
      for (DType dtype : {DType::bf16, DType::fp16}) add(ops::all_moe_aux_kernel_specs(target, dtype));
      std::vector<jit::KernelSpec> specs;
      for (auto& [name, spec] : unique) specs.push_back(std::move(spec));
      fmt::print("warming all {} kernels for {} into {} with {} jobs\n", specs.size(), arch, state.disk().root(), o->jobs);
      return run_warmup(specs, *o);
    }
    std::vector<LinearShape> layers = parse_shapes(o->shapes);
    std::vector<MoeShape> moe;
    DType dtype = DType::bf16;
    if (!o->model.empty()) {
      const ModelLayers model = read_model(o->model, o->tp, o->ep);
      dtype = model.dtype;
      layers.insert(layers.end(), model.linear.begin(), model.linear.end());
      moe = model.moe;
      for (const std::string& part : model.not_covered) fmt::print("not covered: {}\n", part);
    }
    const std::vector<std::int64_t> tokens = parse_int_list(o->tokens, "--tokens");
    fmt::print("{} linear layer shapes{} (tp={}{}), tokens {}, {}, for {} into {}:\n", layers.size(),
               moe.empty() ? "" : fmt::format(" and {} MoE layer shape", moe.size()), o->tp,
               moe.empty() ? "" : fmt::format(", ep={}", o->ep), o->tokens, to_string(dtype), arch, state.disk().root());
    for (const LinearShape& l : layers) fmt::print("  {:<32} N = {:>6}, K = {:>6}\n", l.name, l.n, l.k);
    for (const MoeShape& m : moe)
      fmt::print("  {:<32} E = {:>4} of {}, top-{}, H = {:>6}, I = {:>6}\n", m.name, m.experts, m.global_experts, m.top_k,
                 m.hidden, m.intermediate);
    return run_warmup(ops::layer_kernel_specs(layers, moe, tokens, dtype, jit::Arch::parse(arch)), *o);
  };
}

}  // namespace mxjit::tools
