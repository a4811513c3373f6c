// Subcommands of the `mxjit` tool; each registers itself on the CLI11 app and returns its runner.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace mxjit::tools {

using Runner = std::function<int()>;  // the process exit code

Runner add_info_command(CLI::App& app);
Runner add_warmup_command(CLI::App& app);
Runner add_tune_command(CLI::App& app);
Runner add_check_command(CLI::App& app);
Runner add_cache_command(CLI::App& app);
Runner add_compile_one_command(CLI::App& app);  // compile_worker.cpp

}  // namespace mxjit::tools
