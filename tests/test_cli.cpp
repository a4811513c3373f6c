// The `mxjit` tool end to end: runs the built executable (MXJIT_CLI_PATH) with MXJIT_CACHE_DIR set to
// a fresh directory and checks its output and exit codes. No GPU needed: warmup targets sm_90a through
// NVRTC. One warmup fills a shared cache for the suite; tests that change a cache work on a copy.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "mxjit/mxjit.hpp"
#include "ops/gemm.hpp"
#include "ops/grouped_gemm.hpp"
#include "ops/layer_kernels.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/quantize.hpp"
#include "test_support.hpp"
#include "tools/model_config.hpp"

#ifndef MXJIT_CLI_PATH
#error "MXJIT_CLI_PATH must name the built mxjit executable"
#endif

namespace mxjit {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

struct CliResult {
  int code = -1;    // exit status; -1 when the process did not exit normally
  std::string out;  // stdout and stderr together
};

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `mxjit <args>` with the cache at `cache_dir`; variables that would change what the cache does
// (forced recompiles, prebuilt roots, a disabled cache, dumps) are cleared unless `env` sets them.
CliResult run_cli(const std::string& args, const std::string& cache_dir, const std::string& env = "") {
  const std::string command = "env -u MXJIT_FORCE_RECOMPILE -u MXJIT_CACHE_PREBUILT -u MXJIT_DISABLE_DISK_CACHE "
                              "-u MXJIT_DUMP MXJIT_CACHE_DIR=" +
                              quoted(cache_dir) + " " + env + " " + quoted(MXJIT_CLI_PATH) + " " + args + " 2>&1";
  CliResult r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    r.out = "popen failed: " + command;
    return r;
  }
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) r.out.append(buffer, n);
  const int status = ::pclose(pipe);
  r.code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// "done in 812.3 ms: 26 compiled, 0 cache hits, ..." -> 26; -1 if absent.
int compiled_count(const std::string& warmup_output) {
  std::smatch m;
  static const std::regex done(R"(done in [0-9.]+ ms: (\d+) compiled, (\d+) cache hits)");
  return std::regex_search(warmup_output, m, done) ? std::stoi(m[1]) : -1;
}

// The kernels a warmup run reports off a terminal: "[  3/13] compiled     12.5 ms  <display name>".
std::set<std::string> warmed_kernels(const std::string& warmup_output) {
  static const std::regex line(R"(^\[\s*\d+/\d+\] (compiled|cache hit)\s+[0-9.]+ ms  (\S+)$)");
  std::set<std::string> names;
  std::istringstream lines(warmup_output);
  for (std::string text; std::getline(lines, text);) {
    std::smatch m;
    if (std::regex_match(text, m, line)) names.insert(m[2]);
  }
  return names;
}

std::set<std::string> names_of(const std::vector<jit::KernelSpec>& specs) {
  std::set<std::string> names;
  for (const jit::KernelSpec& s : specs) names.insert(s.display_name());
  return names;
}

struct LsEntry {
  std::string arch, family, key12;
  std::uint64_t bytes = 0;
  std::string age;
};

struct LsListing {
  std::vector<LsEntry> entries;
  long total_entries = -1;
  long long total_bytes = -1;
};

LsListing parse_ls(const std::string& out) {
  static const std::regex entry(R"(^(\S+)\s+(\S+)\s+([0-9a-f]{12})\s+(\d+)\s+(\d+[smhd])$)");
  static const std::regex total(R"(^total: (\d+) entries, (\d+) bytes)");
  LsListing listing;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, entry))
      listing.entries.push_back({m[1], m[2], m[3], std::stoull(m[4]), m[5]});
    else if (std::regex_search(line, m, total)) {
      listing.total_entries = std::stol(m[1]);
      listing.total_bytes = std::stoll(m[2]);
    }
  }
  return listing;
}

// The entry files under a cache root, sorted by path.
std::vector<fs::path> entry_files(const fs::path& root) {
  std::vector<fs::path> out;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().extension() == ".mxk") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t bytes_of(const std::vector<fs::path>& files) {
  std::uint64_t total = 0;
  for (const auto& f : files) total += fs::file_size(f);
  return total;
}

// ---------------------------------------------------------------------------------------------------
// Without a warmed cache.

TEST(CliTest, VersionPrintsTheLibraryVersion) {
  TempDir dir("cli");
  const CliResult r = run_cli("--version", dir.path().string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_CONTAINS(r.out, std::string(version()));
}

TEST(CliTest, InfoNamesTheCacheDir) {
  TempDir dir("cli");
  const CliResult r = run_cli("info", dir.path().string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_CONTAINS(r.out, "cache dir: " + dir.path().string() + " (enabled; 0 entries");
}

TEST(CliTest, EmptyCacheListsAndVerifiesNothing) {
  TempDir dir("cli");
  const std::string root = (dir.path() / "never-created").string();
  const CliResult ls = run_cli("cache ls", root);
  EXPECT_EQ(ls.code, 0) << ls.out;
  const LsListing listing = parse_ls(ls.out);
  EXPECT_TRUE(listing.entries.empty()) << ls.out;
  EXPECT_EQ(listing.total_entries, 0) << ls.out;
  EXPECT_EQ(listing.total_bytes, 0) << ls.out;
  const CliResult verify = run_cli("cache verify", root);
  EXPECT_EQ(verify.code, 0) << verify.out;
  EXPECT_CONTAINS(verify.out, "verified 0 entries");
  const CliResult clear = run_cli("cache clear", root);
  EXPECT_EQ(clear.code, 0) << clear.out;
  EXPECT_CONTAINS(clear.out, "removed 0 entries");
  EXPECT_FALSE(fs::exists(root)) << "read-only subcommands must not create the cache dir";
}

TEST(CliTest, BadArgumentsFail) {
  TempDir dir("cli");
  const std::string root = dir.path().string();
  for (const char* args : {"cache", "cache frobnicate", "cache ls clear", "cache ls --bogus", "cache prune",
                           "cache prune --max-size", "frobnicate"}) {
    const CliResult r = run_cli(args, root);
    EXPECT_NE(r.code, 0) << "mxjit " << args << " succeeded:\n" << r.out;
    EXPECT_NE(r.code, -1) << "mxjit " << args << " did not exit normally:\n" << r.out;
  }
  EXPECT_CONTAINS(run_cli("cache prune", root).out, "--max-size");
}

TEST(CliTest, PruneRejectsMalformedSizesNamingThem) {
  TempDir dir("cli");
  for (const char* size : {"12Q", "1.5G", "-1", "M", "10KB", "2 G", "99999999999999999999", "20000000000G", "0x10"}) {
    const CliResult r = run_cli(std::string("cache prune --max-size ") + quoted(size), dir.path().string());
    EXPECT_NE(r.code, 0) << "--max-size " << size << " was accepted:\n" << r.out;
    EXPECT_CONTAINS(r.out, "'" + std::string(size) + "'");
  }
}

TEST(CliTest, PruneParsesSizeSuffixes) {
  TempDir dir("cli");
  for (auto [size, bytes] : {std::pair{"0", "0"}, {"1048576", "1048576"}, {"1K", "1024"}, {"500M", "524288000"},
                             {"2G", "2147483648"}, {"17179869183G", "18446744072635809792"}}) {
    const CliResult r = run_cli(std::string("cache prune --max-size ") + size, dir.path().string());
    EXPECT_EQ(r.code, 0) << size << ":\n" << r.out;
    EXPECT_CONTAINS(r.out, std::string("(limit ") + bytes + " bytes)");
  }
}

TEST(CliTest, DisabledCacheIsReportedWithExitCode1) {
  TempDir dir("cli");
  for (const char* args : {"cache ls", "cache verify", "cache prune --max-size 1M", "cache clear"}) {
    const CliResult r = run_cli(args, dir.path().string(), "MXJIT_DISABLE_DISK_CACHE=1");
    EXPECT_EQ(r.code, 1) << "mxjit " << args << ":\n" << r.out;
    EXPECT_CONTAINS(r.out, "disk cache is disabled");
  }
}

TEST(CliTest, WarmupForAModelThenAllHits) {
  TempDir dir("cli");
  const std::string model = std::string(MXJIT_SOURCE_DIR) + "/tools/models/llama-3-70b.json";
  const CliResult first = run_cli("warmup --arch sm_90a -j2 --tp 8 --tokens 1,2048 --model " + quoted(model), dir.path().string());
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_CONTAINS(first.out, "attn.qkv_proj");
  EXPECT_CONTAINS(first.out, "N =   1280, K =   8192");
  // quantize, a GEMM tile per token class, the prefill tile's operand prepass and split-K sum
  EXPECT_CONTAINS(first.out, "mxfp8_dequantize_bf16");
  EXPECT_CONTAINS(first.out, "mxfp8_gemm_split_reduce");
  EXPECT_CONTAINS(first.out, ": 5 compiled, 0 cache hits, 0 failed");
  const CliResult second = run_cli("warmup --arch sm_90a --tp 8 --tokens 1,2048 --model " + quoted(model), dir.path().string());
  EXPECT_CONTAINS(second.out, ": 0 compiled, 5 cache hits, 0 failed");
  const CliResult bad = run_cli("warmup --arch sm_90a --tp 3 --model " + quoted(model), dir.path().string());
  EXPECT_NE(bad.code, 0);
  EXPECT_CONTAINS(bad.out, "not divisible by --tp 3");
}

// A compiler that crashes (NVRTC can segfault, design.md 6) costs warmup that one kernel: it is named with
// its saved source, the others are built, no entry is left half-written, and a rerun builds the rest.
TEST(CliTest, WarmupSurvivesACrashingCompilerProcess) {
  TempDir dir("cli");
  const CliResult first =
      run_cli("warmup --arch sm_90a -j2 --shapes 4096:4096 --tokens 1 --test-crash mxfp8_quantize", dir.path().string());
  EXPECT_EQ(first.code, 1) << first.out;
  EXPECT_CONTAINS(first.out, "FAILED  mxfp8_quantize");
  EXPECT_CONTAINS(first.out, "died of signal");
  EXPECT_CONTAINS(first.out, "its source is saved at");
  EXPECT_CONTAINS(first.out, ": 1 compiled, 0 cache hits, 1 failed");  // the streaming GEMM tile
  const CliResult second = run_cli("warmup --arch sm_90a -j2 --shapes 4096:4096 --tokens 1", dir.path().string());
  EXPECT_EQ(second.code, 0) << second.out;
  EXPECT_CONTAINS(second.out, ": 1 compiled, 1 cache hits, 0 failed");
  EXPECT_CONTAINS(run_cli("cache verify", dir.path().string()).out, "2 good, 0 bad");
}

// A MoE model, cold then warm: the linear and MoE kernels (with no GPU, every grouped GEMM tile some
// GPU would pick), exactly those the library lists for the layers model_config reads.
void warm_moe_model_twice(const std::string& name, int tp, int ep, const std::string& experts_line) {
  TempDir dir("cli");
  const std::string model = std::string(MXJIT_SOURCE_DIR) + "/tools/models/" + name + ".json";
  const std::string args = fmt::format("warmup --arch sm_90a -j2 --tp {} --ep {} --tokens 1,16,2048 --model {}", tp, ep,
                                       quoted(model));
  const CliResult first = run_cli(args, dir.path().string());
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_CONTAINS(first.out, fmt::format("1 MoE layer shape (tp={}, ep={})", tp, ep));
  EXPECT_CONTAINS(first.out, experts_line);
  EXPECT_EQ(first.out.find("not covered"), std::string::npos) << first.out;

  std::ifstream file(model);
  const tools::ModelLayers layers = tools::model_layers(nlohmann::json::parse(file), tp, ep);
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  const std::set<std::string> expected =
      names_of(ops::layer_kernel_specs(layers.linear, layers.moe, {1, 16, 2048}, DType::bf16, arch));
  EXPECT_EQ(warmed_kernels(first.out), expected) << first.out;
  const std::string count = std::to_string(expected.size());
  EXPECT_CONTAINS(first.out, ": " + count + " compiled, 0 cache hits, 0 failed");
  EXPECT_EQ(entry_files(dir.path()).size(), expected.size());
  std::set<std::string> families;
  for (const std::string& n : expected) families.insert(n.substr(0, n.find('<')));
  for (const char* family : {"mxfp8_quantize", "moe_route_topk", "moe_group_by_expert", "mxfp8_grouped_gemm",
                             "moe_silu_mul_quantize", "moe_combine"})
    EXPECT_TRUE(families.count(family)) << family;

  const CliResult second = run_cli(args, dir.path().string());
  EXPECT_EQ(second.code, 0) << second.out;
  EXPECT_CONTAINS(second.out, ": 0 compiled, " + count + " cache hits, 0 failed");
  EXPECT_EQ(warmed_kernels(second.out), expected) << second.out;
}

TEST(CliTest, WarmupForQwen3MoeThenAllHits) {
  warm_moe_model_twice("qwen3-30b-a3b", 1, 1, "mlp.experts                      E =  128 of 128, top-8, H =   2048, I =    768");
}

TEST(CliTest, WarmupForDeepSeekV3WithExpertParallelismThenAllHits) {
  warm_moe_model_twice("deepseek-v3", 8, 8, "mlp.experts                      E =   32 of 256, top-8, H =   7168, I =   2048");
}

TEST(CliTest, WarmupRejectsBadShardingNamingIt) {
  TempDir dir("cli");
  const std::string qwen = quoted(std::string(MXJIT_SOURCE_DIR) + "/tools/models/qwen3-30b-a3b.json");
  const std::pair<std::string, std::string> cases[] = {
      {"--ep 3", "num_experts = 128 is not divisible by --ep 3"},
      {"--tp 4 --ep 3", "num_experts = 128 is not divisible by --ep 3"},
      {"--ep 0", "--ep"},
  };
  for (const auto& [flags, message] : cases) {
    const CliResult r = run_cli("warmup --arch sm_90a " + flags + " --model " + qwen, dir.path().string());
    EXPECT_NE(r.code, 0) << flags << ":\n" << r.out;
    EXPECT_NE(r.code, -1) << flags << ":\n" << r.out;
    EXPECT_CONTAINS(r.out, message);
  }
  EXPECT_TRUE(entry_files(dir.path()).empty());
  EXPECT_CONTAINS(run_cli("warmup --help", dir.path().string()).out, "--ep");
}

// MXJIT_TEMPLATE_DIR: kernels compile from the edited copy, under keys of their own.
TEST(CliTest, WarmupCompilesFromTheTemplateDir) {
  TempDir dir("cli");
  const fs::path templates = dir.path() / "templates", cache = dir.path() / "cache";
  fs::copy(fs::path(MXJIT_SOURCE_DIR) / "templates", templates);
  std::ofstream(templates / "mxfp8_numerics.cuh", std::ios::app) << "\n// edited\n";  // a harmless edit
  const std::string warmup = "warmup --arch sm_90a --shapes 256:256 --tokens 1";
  const std::string env = "MXJIT_TEMPLATE_DIR=" + quoted(templates.string());
  const CliResult copy = run_cli(warmup, cache.string(), env);
  ASSERT_EQ(copy.code, 0) << copy.out;
  EXPECT_GT(compiled_count(copy.out), 0) << copy.out;
  const CliResult embedded = run_cli(warmup, cache.string());
  EXPECT_EQ(embedded.code, 0) << embedded.out;
  EXPECT_EQ(compiled_count(embedded.out), compiled_count(copy.out))
      << "the edited copy's entries must not serve the embedded templates\n" << embedded.out;
  std::ofstream(templates / "mxfp8_quantize.cuh", std::ios::app) << "\n#error mxjit-template-dir-probe\n";
  const CliResult edited = run_cli(warmup, cache.string(), env);
  EXPECT_NE(edited.code, 0) << edited.out;
  EXPECT_CONTAINS(edited.out, "mxjit-template-dir-probe");
}

TEST(CliTest, EverySubcommandHasHelp) {
  TempDir dir("cli");
  for (const char* sub : {"ls", "verify", "prune", "clear"}) {
    const CliResult r = run_cli(std::string("cache ") + sub + " --help", dir.path().string());
    EXPECT_EQ(r.code, 0) << sub << ":\n" << r.out;
    EXPECT_CONTAINS(r.out, std::string("cache ") + sub);
  }
  const CliResult cache = run_cli("cache --help", dir.path().string());
  EXPECT_EQ(cache.code, 0) << cache.out;
  for (const char* sub : {"ls", "verify", "prune", "clear"}) EXPECT_CONTAINS(cache.out, sub);
  EXPECT_CONTAINS(run_cli("cache verify --help", dir.path().string()).out, "3 bad entries were found and removed");
  EXPECT_CONTAINS(run_cli("cache prune --help", dir.path().string()).out, "500M");
  EXPECT_CONTAINS(run_cli("--help", dir.path().string()).out, "cache");
}

TEST(CliTest, TuneRejectsBadArgumentsOnAnyMachine) {
  TempDir dir("cli");
  const std::string model = quoted(std::string(MXJIT_SOURCE_DIR) + "/tools/models/llama-3-8b.json");
  const std::pair<std::string, std::string> cases[] = {
      {"tune", "--model config.json or --shapes"},
      {"tune --shapes 512x1024", "'512x1024' is not N:K"},
      {"tune --shapes 512:", "'512:' is not N:K"},
      {"tune --shapes q:1024", "'q' is not an integer"},
      {"tune --shapes 512:1000", "N = 512, K = 1000"},
      {"tune --shapes 512:1024 --dtype fp32", "fp32"},
      {"tune --shapes 512:1024 --tokens 1,0", "token count 0"},
      {"tune --shapes 512:1024 --tokens 1,x", "'x' is not an integer"},
      {"tune --shapes 512:1024 --budget-ms 0", "budget per shape must be positive"},
      {"tune --model " + model + " --tp 3", "not divisible by --tp 3"},
      {"tune --shapes 512:1024 --bogus", "--bogus"},
  };
  for (const auto& [args, message] : cases) {
    const CliResult r = run_cli(args + " --db " + quoted(dir / "tuning.json"), dir.path().string());
    EXPECT_NE(r.code, 0) << "mxjit " << args << " succeeded:\n" << r.out;
    EXPECT_NE(r.code, -1) << "mxjit " << args << " did not exit normally:\n" << r.out;
    EXPECT_CONTAINS(r.out, message);
  }
  EXPECT_FALSE(fs::exists(dir / "tuning.json"));
}

TEST(CliTest, TuneWithoutAGpuSaysSo) {
  if (gpu_count() > 0) GTEST_SKIP() << "this machine has a GPU";
  TempDir dir("cli");
  const CliResult r = run_cli("tune --shapes 512:1024 --tokens 1 --db " + quoted(dir / "tuning.json"), dir.path().string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_CONTAINS(r.out, "mxjit tune needs a GPU; this machine has none");
  EXPECT_FALSE(fs::exists(dir / "tuning.json"));
}

TEST(CliTest, TuneHasHelp) {
  TempDir dir("cli");
  const CliResult r = run_cli("tune --help", dir.path().string());
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* part : {"--model", "--shapes", "--tokens", "--dtype", "--budget-ms", "--db", "--force", "--quiet",
                           "Exit status"})
    EXPECT_CONTAINS(r.out, part);
  EXPECT_CONTAINS(run_cli("--help", dir.path().string()).out, "tune");
}

// ---------------------------------------------------------------------------------------------------
// With a cache warmed once for the suite.

class CliCacheTest : public ::testing::Test {
 protected:
  // One linear layer's kernels (5, of 4 families): enough entries for ls, verify and prune, in seconds
  // where every dispatched kernel takes about a minute, once per test process.
  static constexpr const char* kWarmup = "warmup --arch sm_90a --shapes 4096:4096 --tokens 1,4096 -j2";

  static void SetUpTestSuite() {
    warmed_ = std::make_unique<TempDir>("cli-warm");
    warmup_ = run_cli(kWarmup, warmed_->path().string());
    compiled_ = compiled_count(warmup_.out);
  }
  static void TearDownTestSuite() { warmed_.reset(); }

  void SetUp() override {
    ASSERT_EQ(warmup_.code, 0) << warmup_.out;
    ASSERT_GT(compiled_, 0) << "no \"done in ... : N compiled\" line in:\n" << warmup_.out;
  }

  // A private copy of the warmed cache, for tests that change it.
  static std::unique_ptr<TempDir> copy_of_warmed() {
    auto copy = std::make_unique<TempDir>("cli-copy");
    fs::copy(warmed_->path(), copy->path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    return copy;
  }

  static std::unique_ptr<TempDir> warmed_;
  static CliResult warmup_;
  static int compiled_;
};

std::unique_ptr<TempDir> CliCacheTest::warmed_;
CliResult CliCacheTest::warmup_;
int CliCacheTest::compiled_ = -1;

TEST_F(CliCacheTest, LsListsEveryEntryWarmupCompiled) {
  const fs::path root = warmed_->path();
  const std::vector<fs::path> files = entry_files(root);
  EXPECT_EQ(files.size(), static_cast<std::size_t>(compiled_));

  const CliResult r = run_cli("cache ls", root.string());
  ASSERT_EQ(r.code, 0) << r.out;
  const LsListing listing = parse_ls(r.out);
  ASSERT_EQ(listing.entries.size(), static_cast<std::size_t>(compiled_)) << r.out;
  EXPECT_EQ(listing.total_entries, compiled_) << r.out;
  EXPECT_EQ(listing.total_bytes, static_cast<long long>(bytes_of(files))) << r.out;
  EXPECT_CONTAINS(r.out, root.string());

  // Exactly the files on disk: <root>/v<format>/<arch>/<family>/<key>.mxk, with their sizes.
  std::set<std::tuple<std::string, std::string, std::string, std::uint64_t>> on_disk, listed;
  for (const auto& f : files)
    on_disk.insert({f.parent_path().parent_path().filename().string(), f.parent_path().filename().string(),
                    f.stem().string().substr(0, 12), fs::file_size(f)});
  std::uint64_t sum = 0;
  for (const auto& e : listing.entries) {
    listed.insert({e.arch, e.family, e.key12, e.bytes});
    sum += e.bytes;
    EXPECT_EQ(e.arch, "sm_90a");
  }
  EXPECT_EQ(listed, on_disk);
  EXPECT_EQ(static_cast<long long>(sum), listing.total_bytes);

  // Sorted by family, then arch; warmup built both quantize and GEMM kernels.
  EXPECT_TRUE(std::is_sorted(listing.entries.begin(), listing.entries.end(), [](const LsEntry& a, const LsEntry& b) {
    return std::tie(a.family, a.arch) < std::tie(b.family, b.arch);
  })) << r.out;
  std::set<std::string> families;
  for (const auto& e : listing.entries) families.insert(e.family);
  EXPECT_GE(families.size(), 2u) << r.out;
}

TEST(CliWarmup, WithoutAModelBuildsEveryDispatchedKernel) {
  // The quantize, dense GEMM and grouped GEMM kernels, and the MoE kernels for bf16 and fp16 activations
  // (the f32-logit routing and the grouping shared by both, built once).
  const TempDir dir("cli-warm-all");
  const CliResult warmup = run_cli("warmup --arch sm_90a -j2", dir.path().string());
  ASSERT_EQ(warmup.code, 0) << warmup.out;
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  std::set<std::string> expected = names_of(ops::all_quantize_kernel_specs(arch));
  expected.merge(names_of(ops::all_gemm_kernel_specs(arch)));
  expected.merge(names_of(ops::all_grouped_gemm_kernel_specs(arch)));
  for (DType dtype : {DType::bf16, DType::fp16}) expected.merge(names_of(ops::all_moe_aux_kernel_specs(arch, dtype)));
  EXPECT_EQ(warmed_kernels(warmup.out), expected) << warmup.out;
  EXPECT_EQ(static_cast<std::size_t>(compiled_count(warmup.out)), expected.size());
}

TEST_F(CliCacheTest, SecondWarmupCompilesNothing) {
  const auto copy = copy_of_warmed();
  const CliResult r = run_cli(kWarmup, copy->path().string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(compiled_count(r.out), 0) << r.out;
  EXPECT_CONTAINS(r.out, ": 0 compiled, " + std::to_string(compiled_) + " cache hits, 0 failed");
}

TEST_F(CliCacheTest, VerifyRemovesACorruptEntryAndExits3) {
  const auto copy = copy_of_warmed();
  const std::string root = copy->path().string();
  const CliResult clean = run_cli("cache verify", root);
  EXPECT_EQ(clean.code, 0) << clean.out;
  EXPECT_CONTAINS(clean.out, "verified " + std::to_string(compiled_) + " entries: " + std::to_string(compiled_) +
                                 " good, 0 bad");

  std::vector<fs::path> files = entry_files(copy->path());
  ASSERT_FALSE(files.empty());
  const fs::path victim = files[files.size() / 2];
  std::string bytes = testing::read_bytes(victim.string());
  ASSERT_GT(bytes.size(), 100u);
  bytes[bytes.size() - 7] ^= 0x5a;  // in the CUBIN: the checksum no longer matches
  testing::write_bytes(victim.string(), bytes);

  const CliResult bad = run_cli("cache verify", root);
  EXPECT_EQ(bad.code, 3) << bad.out;
  EXPECT_CONTAINS(bad.out, victim.string());
  EXPECT_CONTAINS(bad.out, "1 bad (removed)");
  EXPECT_FALSE(fs::exists(victim));
  EXPECT_EQ(entry_files(copy->path()).size(), files.size() - 1);
  for (const auto& f : files)
    if (f != victim) {
      EXPECT_EQ(bad.out.find(f.string()), std::string::npos) << "a good entry was reported: " << f;
    }

  const CliResult again = run_cli("cache verify", root);
  EXPECT_EQ(again.code, 0) << again.out;
  EXPECT_CONTAINS(again.out, "0 bad");
  const LsListing listing = parse_ls(run_cli("cache ls", root).out);
  EXPECT_EQ(listing.total_entries, compiled_ - 1);
}

TEST_F(CliCacheTest, PruneRemovesLeastRecentlyUsedFirst) {
  const auto copy = copy_of_warmed();
  const std::string root = copy->path().string();
  const std::vector<fs::path> files = entry_files(copy->path());
  ASSERT_GE(files.size(), 4u);
  const std::size_t n = files.size();

  // Distinct last-use times: files[0] five days ago, then files[i] (n - i) hours ago (the last one 1h).
  const auto now = fs::file_time_type::clock::now();
  fs::last_write_time(files[0], now - std::chrono::hours(24 * 5) - std::chrono::seconds(30));
  for (std::size_t i = 1; i < n; ++i) fs::last_write_time(files[i], now - std::chrono::hours(n - i) - std::chrono::minutes(1));

  const CliResult ls = run_cli("cache ls", root);
  const LsListing listing = parse_ls(ls.out);
  ASSERT_EQ(listing.entries.size(), n) << ls.out;
  auto age_of = [&](const fs::path& file) {
    for (const auto& e : listing.entries)
      if (e.key12 == file.stem().string().substr(0, 12)) return e.age;
    return std::string("(not listed)");
  };
  EXPECT_EQ(age_of(files[0]), "5d") << ls.out;
  EXPECT_EQ(age_of(files[n - 2]), "2h") << ls.out;
  EXPECT_EQ(age_of(files[n - 1]), "1h") << ls.out;

  // Room for all but the oldest: exactly the oldest goes.
  const std::uint64_t total = bytes_of(files), oldest = fs::file_size(files[0]);
  CliResult r = run_cli("cache prune --max-size " + std::to_string(total - oldest), root);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_CONTAINS(r.out, "freed " + std::to_string(oldest) + " bytes");
  EXPECT_CONTAINS(r.out, std::to_string(n - 1) + " entries, " + std::to_string(total - oldest) + " bytes");
  EXPECT_FALSE(fs::exists(files[0]));
  for (std::size_t i = 1; i < n; ++i) EXPECT_TRUE(fs::exists(files[i])) << files[i];

  // Room for exactly the newest three: they stay, the rest go.
  const std::uint64_t newest3 = bytes_of({files[n - 3], files[n - 2], files[n - 1]});
  r = run_cli("cache prune --max-size " + std::to_string(newest3), root);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_CONTAINS(r.out, "freed " + std::to_string(total - oldest - newest3) + " bytes");
  EXPECT_EQ(entry_files(copy->path()), (std::vector<fs::path>{files[n - 3], files[n - 2], files[n - 1]}));
  EXPECT_EQ(parse_ls(run_cli("cache ls", root).out).total_bytes, static_cast<long long>(newest3));

  // A limit above the total removes nothing.
  r = run_cli("cache prune --max-size 2G", root);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_CONTAINS(r.out, "freed 0 bytes");
  EXPECT_EQ(entry_files(copy->path()).size(), 3u);

  // One byte holds no entry.
  r = run_cli("cache prune --max-size 1", root);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_CONTAINS(r.out, "0 entries, 0 bytes");
  EXPECT_TRUE(entry_files(copy->path()).empty());
  EXPECT_EQ(parse_ls(run_cli("cache ls", root).out).total_entries, 0);
}

TEST_F(CliCacheTest, PruneRejectsABadSizeAndKeepsTheCache) {
  const auto copy = copy_of_warmed();
  const CliResult r = run_cli("cache prune --max-size 12Q", copy->path().string());
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.code, -1) << r.out;
  EXPECT_CONTAINS(r.out, "12Q");
  EXPECT_EQ(entry_files(copy->path()).size(), static_cast<std::size_t>(compiled_));
}

TEST_F(CliCacheTest, ClearRemovesEveryEntry) {
  const auto copy = copy_of_warmed();
  const std::string root = copy->path().string();
  const CliResult r = run_cli("cache clear", root);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_CONTAINS(r.out, "removed " + std::to_string(compiled_) + " entries");
  EXPECT_TRUE(entry_files(copy->path()).empty());
  const CliResult ls = run_cli("cache ls", root);
  EXPECT_EQ(ls.code, 0) << ls.out;
  EXPECT_TRUE(parse_ls(ls.out).entries.empty()) << ls.out;
  EXPECT_CONTAINS(ls.out, "total: 0 entries, 0 bytes");
  EXPECT_CONTAINS(run_cli("info", root).out, "(enabled; 0 entries");
}

}  // namespace
}  // namespace mxjit
