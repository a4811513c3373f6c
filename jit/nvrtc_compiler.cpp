#include "jit/nvrtc_compiler.hpp"

#include <nvrtc.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "jit/kernel_templates.hpp"
#include "jit/hash.hpp"
#include "mxjit/error.hpp"

namespace mxjit::jit {
namespace {

struct ProgramDeleter {
  void operator()(nvrtcProgram p) const { nvrtcDestroyProgram(&p); }
};
using Program = std::unique_ptr<std::remove_pointer_t<nvrtcProgram>, ProgramDeleter>;

void check(nvrtcResult r, const char* call) {
  if (r != NVRTC_SUCCESS)
    throw Error(ErrorCode::compile_error, fmt::format("{} failed: {}", call, nvrtcGetErrorString(r)));
}

Program create_program(const KernelSpec& spec) {
  std::vector<const char*> header_texts, header_names;
  std::vector<std::string> storage;  // embedded text is not NUL-terminated by contract
  const auto files = kernel_templates();
  storage.reserve(files.size() * 2);
  for (const EmbeddedFile& f : files) {
    storage.emplace_back(f.text);
    storage.emplace_back(f.name);
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    header_texts.push_back(storage[2 * i].c_str());
    header_names.push_back(storage[2 * i + 1].c_str());
  }
  const std::string source = spec.source();
  const std::string file_name = spec.family + ".cu";
  nvrtcProgram raw = nullptr;
  check(nvrtcCreateProgram(&raw, source.c_str(), file_name.c_str(), static_cast<int>(files.size()),
                           header_texts.data(), header_names.data()),
        "nvrtcCreateProgram");
  Program program(raw);
  check(nvrtcAddNameExpression(raw, spec.name_expression().c_str()), "nvrtcAddNameExpression");
  return program;
}

std::string program_log(nvrtcProgram p) {
  std::size_t size = 0;
  if (nvrtcGetProgramLogSize(p, &size) != NVRTC_SUCCESS || size <= 1) return {};
  std::string log(size, '\0');
  nvrtcGetProgramLog(p, log.data());
  log.resize(size - 1);
  return log;
}

// Compiles with the given options; on failure throws with everything needed to reproduce it.
void run_compile(nvrtcProgram p, const KernelSpec& spec, const std::vector<std::string>& options,
                 const std::string& failure_dir) {
  std::vector<const char*> argv;
  for (const std::string& o : options) argv.push_back(o.c_str());
  nvrtcResult r = nvrtcCompileProgram(p, static_cast<int>(argv.size()), argv.data());
  if (r == NVRTC_SUCCESS) return;
  std::string saved = "(not saved: no failure directory)";
  if (!failure_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(failure_dir, ec);
    std::string path = fmt::format("{}/{}-{}.cu", failure_dir, spec.family,
                                   xxh3_128_hex(spec.display_name()).substr(0, 12));
    std::ofstream out(path);
    out << spec.source() << "// name expression: " << spec.name_expression() << "\n";
    saved = out ? path : fmt::format("(could not write {})", path);
  }
  throw Error(ErrorCode::compile_error,
              fmt::format("NVRTC failed to compile kernel {} ({})\n  options: {}\n  generated source: {}\n{}",
                          spec.display_name(), nvrtcGetErrorString(r), fmt::join(options, " "), saved,
                          program_log(p)));
}

}  // namespace

std::string nvrtc_version_string() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return fmt::format("{}.{}", major, minor);
}

std::vector<std::string> nvrtc_options(const Arch& arch, bool lineinfo) {
  std::vector<std::string> options = {
      "--gpu-architecture=" + arch.name(),  // a real target: NVRTC emits CUBIN, no PTX JIT at load
      "--std=c++17",
      "--device-as-default-execution-space",
      "--restrict",
      "-DMXJIT_ARCH=" + std::to_string(arch.sm()),
  };
  if (lineinfo) options.push_back("--generate-line-info");
  return options;
}

std::vector<std::string> nvrtc_resource_report_options(const Arch& arch) {
  std::vector<std::string> options = nvrtc_options(arch, false);
  options.push_back("--ptxas-options=-v");
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  if (major > 12 || (major == 12 && minor >= 9)) options.push_back("--no-cache");
  return options;
}

CompileOutput compile_cubin(const KernelSpec& spec, const std::vector<std::string>& options,
                            const std::string& failure_dir) {
  const auto start = std::chrono::steady_clock::now();
  Program program = create_program(spec);
  run_compile(program.get(), spec, options, failure_dir);
  CompileOutput out;
  const char* lowered = nullptr;
  check(nvrtcGetLoweredName(program.get(), spec.name_expression().c_str(), &lowered), "nvrtcGetLoweredName");
  out.lowered_name = lowered;
  std::size_t size = 0;
  check(nvrtcGetCUBINSize(program.get(), &size), "nvrtcGetCUBINSize");
  out.cubin.resize(size);
  check(nvrtcGetCUBIN(program.get(), out.cubin.data()), "nvrtcGetCUBIN");
  out.log = program_log(program.get());
  out.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

std::string compile_ptx(const KernelSpec& spec, const std::vector<std::string>& options) {
  std::vector<std::string> virtual_options = options;
  for (std::string& o : virtual_options)
    if (o.starts_with("--gpu-architecture=sm_")) o = "--gpu-architecture=compute_" + o.substr(22);
  Program program = create_program(spec);
  run_compile(program.get(), spec, virtual_options, "");
  std::size_t size = 0;
  check(nvrtcGetPTXSize(program.get(), &size), "nvrtcGetPTXSize");
  std::string ptx(size, '\0');
  check(nvrtcGetPTX(program.get(), ptx.data()), "nvrtcGetPTX");
  if (!ptx.empty() && ptx.back() == '\0') ptx.pop_back();
  return ptx;
}

}  // namespace mxjit::jit
