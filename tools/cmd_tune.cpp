// `mxjit tune`: on a GPU, measure every candidate GEMM tile for a model's (or explicit) linear layers at
// the expected token counts, and record the winners in the tuning database dispatch reads
// (mxjit::tune_gemm does the work; this is its command line and its report).
#include <fmt/format.h>

#include <cmath>

#include "commands.hpp"
#include "jit/runtime_state.hpp"
#include "layer_args.hpp"
#include "mxjit/mxjit.hpp"
#include "progress_bar.hpp"
#include "runtime/device.hpp"

namespace mxjit::tools {
namespace {

struct Options {
  std::string model, shapes, tokens = "1,16,64,256,2048,8192", dtype, db;
  int tp = 1;
  double budget_ms = 1000;
  bool force = false, quiet = false;
};

std::string time_text(double us) { return std::isfinite(us) ? fmt::format("{:.2f} us", us) : "failed"; }

// Results and failures always print (failures even with -q); single candidates only off a terminal,
// where the progress bar cannot show them.
void print_event(ProgressBar& bar, bool quiet, const TuneEvent& e) {
  const std::string shape = fmt::format("M={} N={} K={}", e.m, e.n, e.k);
  switch (e.kind) {
    case TuneEvent::Kind::candidate:
      if (!quiet && !bar.active())
        bar.print(stdout, fmt::format("  [{}/{}] {} {:<28} {}{}", e.done, e.total, shape, e.tile,
                                      time_text(e.microseconds), e.error.empty() ? "" : ": " + e.error));
      else if (!quiet && !e.error.empty())
        bar.print(stdout, fmt::format("  {} {} failed: {}", shape, e.tile, e.error));
      break;
    case TuneEvent::Kind::tuned:
      if (!quiet)
        bar.print(stdout, fmt::format("{}: {} {} (the heuristic's tile: {}{})", shape, e.tile, time_text(e.microseconds),
                                      time_text(e.heuristic_microseconds),
                                      std::isfinite(e.heuristic_microseconds)
                                          ? fmt::format(", {:.2f}x", e.heuristic_microseconds / e.microseconds)
                                          : ""));
      break;
    case TuneEvent::Kind::skipped:
      if (!quiet) bar.print(stdout, fmt::format("{}: already tuned ({} {}); --force tunes it again", shape, e.tile, time_text(e.microseconds)));
      break;
    case TuneEvent::Kind::failed:
      bar.print(stdout, fmt::format("{}: FAILED, nothing recorded: {}", shape, e.error));
      break;
  }
  bar.update(e.done, e.total, e.kind == TuneEvent::Kind::candidate ? shape + " " + e.tile : shape);
}

}  // namespace

Runner add_tune_command(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("tune", "on a GPU, time every GEMM tile per shape and record the fastest in the tuning database");
  cmd->add_option("--model", o->model, "a Hugging Face style config.json (see tools/models/)")->check(CLI::ExistingFile);
  cmd->add_option("--tp", o->tp, "tensor-parallel size the model is sharded with")->check(CLI::PositiveNumber);
  cmd->add_option("--shapes", o->shapes, "explicit linear layers, N:K[,N:K...]");
  cmd->add_option("--tokens", o->tokens, "token counts (M), comma-separated")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "activation and output type (default: the model's, else bf16)")
      ->check(CLI::IsMember({"bf16", "fp16"}));
  cmd->add_option("--budget-ms", o->budget_ms, "benchmark time per shape and token count, shared by its tiles")
      ->capture_default_str();  // a budget <= 0 is refused by check_tune_options, with the value
  cmd->add_option("--db", o->db, "the tuning database (default: MXJIT_TUNING_DB, else <cache dir>/tuning.json)");
  cmd->add_flag("--force", o->force, "tune again shapes the database already holds");
  cmd->add_flag("-q,--quiet", o->quiet, "print only failures and the summary");
  cmd->footer(
      "Each winner is saved as soon as it is known, so an interrupted run keeps what finished and a rerun\n"
      "resumes. Every tile is checked against the heuristic tile's output before it is timed.\n"
      "Exit status: 0 every shape tuned or already tuned; 1 no GPU, or a shape where no tile passed;\n"
      "non-zero with a message for bad arguments or an unreadable database.");
  return [o] {
    // Arguments first, so that mistakes are reported on any machine.
    if (o->model.empty() && o->shapes.empty())
      throw Error(ErrorCode::invalid_argument, "mxjit tune: give --model config.json or --shapes N:K[,N:K...]");
    std::vector<LinearShape> layers = parse_shapes(o->shapes);
    TuneOptions t;
    if (!o->model.empty()) {
      const ModelLayers model = read_model(o->model, o->tp);
      t.out = model.dtype;
      layers.insert(layers.end(), model.linear.begin(), model.linear.end());
      for (const std::string& part : model.not_covered) fmt::print("not covered: {}\n", part);
      for (const MoeShape& m : model.moe)
        fmt::print("not tuned: {} ({} routed experts; the grouped GEMM keeps its built-in tile choice)\n", m.name,
                   m.global_experts);
    }
    if (!o->dtype.empty()) t.out = o->dtype == "fp16" ? DType::fp16 : DType::bf16;
    for (const LinearShape& l : layers) t.shapes.push_back({l.n, l.k});
    t.tokens = parse_int_list(o->tokens, "--tokens");
    t.budget_ms = o->budget_ms;
    t.db_path = o->db.empty() ? jit::RuntimeState::get().config().tuning_db : o->db;
    t.force = o->force;
    check_tune_options(t);
    if (runtime::device_count() == 0) {
      fmt::print(stderr, "mxjit tune needs a GPU; this machine has none\n");
      return 1;
    }

    runtime::PrimaryContext context(0);
    fmt::print("tuning {} linear layer shapes x tokens {} ({}, {} ms each) on {} into {}\n", layers.size(), o->tokens,
               to_string(t.out), t.budget_ms, runtime::device_info(0).name, t.db_path);
    if (!o->quiet)
      for (const LinearShape& l : layers) fmt::print("  {:<32} N = {:>6}, K = {:>6}\n", l.name, l.n, l.k);
    ProgressBar bar(!o->quiet);
    const TuneSummary s = tune_gemm(t, [&](const TuneEvent& e) { print_event(bar, o->quiet, e); });
    bar.finish();
    fmt::print("done in {:.1f} s: {} tuned, {} already tuned, {} failed; database {}\n", s.wall_ms / 1000, s.tuned,
               s.skipped, s.failed, s.db_path);
    return s.failed == 0 ? 0 : 1;
  };
}

}  // namespace mxjit::tools
