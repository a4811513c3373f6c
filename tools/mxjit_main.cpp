// `mxjit`: kernel-cache warmup and maintenance, GEMM autotuning, GPU self-check and information.
#include <cstdio>
#include <map>

#include "commands.hpp"
#include "mxjit/mxjit.hpp"

int main(int argc, char** argv) {
  CLI::App app{"mxjit: MXFP8 kernels compiled at run time for the GPU in hand"};
  app.set_version_flag("--version", mxjit::version());
  app.require_subcommand(1);
  std::map<std::string, mxjit::tools::Runner> runners = {
      {"info", mxjit::tools::add_info_command(app)},
      {"warmup", mxjit::tools::add_warmup_command(app)},
      {"tune", mxjit::tools::add_tune_command(app)},
      {"check", mxjit::tools::add_check_command(app)},
      {"cache", mxjit::tools::add_cache_command(app)},
      {"compile-one", mxjit::tools::add_compile_one_command(app)},
  };
  CLI11_PARSE(app, argc, argv);
  try {
    for (auto& [name, run] : runners)
      if (app.got_subcommand(name)) return run();
  } catch (const mxjit::Error& e) {
    std::fprintf(stderr, "mxjit: error (%s): %s\n", mxjit::to_string(e.code()), e.what());
    return 2;
  }
  return 1;
}
