#include "compile_worker.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "jit/runtime_state.hpp"
#include "mxjit/error.hpp"

extern char** environ;

namespace mxjit::tools {
namespace {

// The child died: keep its source where failed compiles keep theirs, so the crash can be reproduced.
std::string save_source(const jit::KernelSpec& spec) {
  const jit::KernelCache& cache = jit::RuntimeState::get().kernels();
  const std::filesystem::path dir = cache.failure_dir();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = (dir / fmt::format("{}-{}.cu", spec.family, cache.key_of(spec).hex.substr(0, 12))).string();
  std::ofstream(path) << spec.source() << "// name expression: " << spec.name_expression() << "\n";
  return path;
}

}  // namespace

std::string build_in_child(const jit::KernelSpec& spec, const std::string& abort_marker) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return fmt::format("{}: pipe failed: {}", spec.display_name(), std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);  // dup2 clears O_CLOEXEC on stderr
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  const std::string text = spec.to_text();
  std::vector<std::string> args = {"mxjit", "compile-one", "--spec", text};
  if (!abort_marker.empty()) args.insert(args.end(), {"--abort-if-name-contains", abort_marker});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  std::string output;
  if (spawned == 0) {
    char buffer[4096];
    for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) != 0;)
      if (n > 0) output.append(buffer, static_cast<std::size_t>(n));
      else if (errno != EINTR) break;
  }
  close(pipe_fds[0]);
  if (spawned != 0) return fmt::format("{}: could not start a compiler process: {}", spec.display_name(), std::strerror(spawned));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFSIGNALED(status))
    return fmt::format("the compiler process for {} died of signal {} ({}); its source is saved at {}",
                       spec.display_name(), WTERMSIG(status), strsignal(WTERMSIG(status)), save_source(spec));
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output.empty() ? fmt::format("the compiler process for {} exited with status {}", spec.display_name(),
                                      WEXITSTATUS(status))
                        : output;
}

Runner add_compile_one_command(CLI::App& app) {
  auto text = std::make_shared<std::string>();
  auto abort_marker = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("compile-one", "build one kernel spec into the caches (used by warmup)");
  cmd->group("");  // internal: not listed in --help
  cmd->add_option("--spec", *text, "the spec, as KernelSpec::to_text writes it")->required();
  cmd->add_option("--abort-if-name-contains", *abort_marker, "abort instead of compiling a matching kernel (tests)");
  return [text, abort_marker] {
    try {
      const jit::KernelSpec spec = jit::KernelSpec::from_text(*text);
      if (!abort_marker->empty() && spec.display_name().find(*abort_marker) != std::string::npos) std::abort();
      jit::RuntimeState::get().kernels().get(spec);
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
  };
}

}  // namespace mxjit::tools
