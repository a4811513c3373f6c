// NVRTC compiles every kernel specialization for Hopper (and Blackwell) on any machine, GPU or not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include <filesystem>
#include <fstream>

#include "jit/embedded_templates.hpp"
#include "jit/kernel_templates.hpp"
#include "jit/nvrtc_compiler.hpp"
#include "mxjit/error.hpp"
#include "ops/gemm.hpp"
#include "ops/grouped_gemm.hpp"
#include "ops/moe_kernels.hpp"
#include "ops/quantize.hpp"
#include "test_support.hpp"

namespace mxjit {
namespace {

class QuantizeVariantCompiles : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizeVariantCompiles, EveryVariantToCubin) {
  const jit::Arch arch = jit::Arch::parse(GetParam());
  for (const jit::KernelSpec& spec : ops::all_quantize_kernel_specs(arch)) {
    SCOPED_TRACE(spec.display_name());
    jit::CompileOutput out = jit::compile_cubin(spec, jit::nvrtc_options(arch, false), "");
    EXPECT_GT(out.cubin.size(), 1000u);
    EXPECT_EQ(out.cubin.substr(0, 4), "\x7f" "ELF");
    EXPECT_NE(out.lowered_name.find("mxfp8_quantize_kernel"), std::string::npos);
  }
}

// Every tile, with what its launch adds (sm_90a's operand prepass, the split-K sum), each kernel once.
TEST_P(QuantizeVariantCompiles, EveryGemmTileToCubinWithoutSpills) {
  const jit::Arch arch = jit::Arch::parse(GetParam());
  const std::vector<std::string> options = jit::nvrtc_resource_report_options(arch);
  std::set<std::string> done;
  for (const ops::GemmTile& tile : ops::gemm_tiles) {
    if (!ops::gemm_family_supported(tile.family, arch)) continue;
    for (const jit::KernelSpec& spec : ops::gemm_launch_kernel_specs(tile, DType::bf16, arch)) {
      if (!done.insert(spec.display_name()).second) continue;
      SCOPED_TRACE(spec.display_name());
      jit::CompileOutput out = jit::compile_cubin(spec, options, "");
      EXPECT_EQ(out.cubin.substr(0, 4), "\x7f" "ELF");
      EXPECT_NE(out.log.find("0 bytes spill stores"), std::string::npos) << out.log;
    }
  }
  const auto compiled = [&](const char* family) {
    return std::any_of(done.begin(), done.end(), [&](const std::string& name) { return name.rfind(family, 0) == 0; });
  };
  EXPECT_TRUE(compiled("mxfp8_gemm_split_reduce<"));
  EXPECT_EQ(compiled("mxfp8_dequantize_bf16<"), arch.arch_specific && arch.major == 9);
  EXPECT_EQ(compiled("mxfp8_gemm_decode_tma<"), arch.major == 9);
  EXPECT_EQ(compiled("mxfp8_gemm_decode_reduce<"), arch.major == 9);
}

TEST_P(QuantizeVariantCompiles, EveryGroupedGemmTileToCubinWithoutSpills) {
  const jit::Arch arch = jit::Arch::parse(GetParam());
  const std::vector<std::string> options = jit::nvrtc_resource_report_options(arch);
  std::set<std::string> done;  // every kernel a launch runs (tma_decode's shared-tile sum too), once
  for (const ops::GemmTile& tile : ops::grouped_gemm_tiles) {
    if (!ops::gemm_family_supported(tile.family, arch)) continue;
    for (const jit::KernelSpec& spec : ops::grouped_gemm_launch_kernel_specs(tile, DType::bf16, arch)) {
      if (!done.insert(spec.display_name()).second) continue;
      SCOPED_TRACE(spec.display_name());
      jit::CompileOutput out = jit::compile_cubin(spec, options, "");
      EXPECT_EQ(out.cubin.substr(0, 4), "\x7f" "ELF");
      EXPECT_NE(out.lowered_name.find(spec.function.substr(spec.function.rfind(':') + 1)), std::string::npos);
      EXPECT_NE(out.log.find("0 bytes spill stores"), std::string::npos) << out.log;
      EXPECT_EQ(out.log.find("serialized"), std::string::npos) << out.log;  // wgmma kept asynchronous
    }
  }
  EXPECT_EQ(done.count("mxfp8_grouped_gemm_decode_reduce<rows=128,tokens=8,out=mxjit::OutBf16>@" + arch.name()),
            arch.major == 9 ? 1u : 0u);
}

INSTANTIATE_TEST_SUITE_P(Targets, QuantizeVariantCompiles, ::testing::Values("sm_90a", "sm_100a", "sm_89"));

// Every kernel the library launches early on sm_90 (LaunchConfig::early_start: the MoE chain, the
// grouped GEMMs with their prepass and sum, quantize, the dense decode kernels and their sum) must wait
// for its predecessor on the device before it touches memory; without the wait an early launch races.
TEST(NvrtcCompile, EveryKernelLaunchedEarlyWaitsForItsPredecessor) {
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  std::vector<jit::KernelSpec> specs = ops::all_quantize_kernel_specs(arch);
  for (jit::KernelSpec& s : ops::all_grouped_gemm_kernel_specs(arch)) specs.push_back(std::move(s));
  for (DType dtype : {DType::bf16, DType::fp16})
    for (jit::KernelSpec& s : ops::all_moe_aux_kernel_specs(arch, dtype)) specs.push_back(std::move(s));
  for (const ops::GemmTile& tile : ops::gemm_tiles)
    if (tile.streaming || tile.family == ops::GemmFamily::tma_decode)
      for (jit::KernelSpec& s : ops::gemm_launch_kernel_specs(tile, DType::bf16, arch)) specs.push_back(std::move(s));
  std::set<std::string> done;
  for (const jit::KernelSpec& spec : specs) {
    if (!done.insert(spec.display_name()).second) continue;
    SCOPED_TRACE(spec.display_name());
    EXPECT_NE(jit::compile_ptx(spec, jit::nvrtc_options(arch, false)).find("griddepcontrol.wait"), std::string::npos);
  }
  EXPECT_GT(done.size(), 20u);
}

// The exact Hopper family (bf16 wgmma on dequantized tiles), both output types: no spills, and no wgmma
// serialized by ptxas (its register A fragments stay in flight across the next dequantization).
TEST(NvrtcCompile, EveryWgmmaBf16TileBothOutputsWithoutSpills) {
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  const std::vector<std::string> options = jit::nvrtc_resource_report_options(arch);
  int tiles = 0;
  for (const ops::GemmTile& tile : ops::gemm_tiles) {
    if (tile.family != ops::GemmFamily::wgmma_bf16) continue;
    ++tiles;
    EXPECT_EQ(tile.threads(), 384u) << tile.name();  // two consumer warpgroups and a producer
    EXPECT_LE(tile.smem_bytes(), 227u * 1024) << tile.name();  // Hopper's opt-in limit per block
    for (DType out : {DType::bf16, DType::fp16}) {
      const jit::KernelSpec spec = ops::gemm_kernel_spec(tile, out, arch);
      SCOPED_TRACE(spec.display_name());
      jit::CompileOutput c = jit::compile_cubin(spec, options, "");
      EXPECT_EQ(c.cubin.substr(0, 4), "\x7f" "ELF");
      EXPECT_NE(c.lowered_name.find("mxfp8_gemm_wgmma_bf16_kernel"), std::string::npos);
      EXPECT_NE(c.log.find("0 bytes spill stores"), std::string::npos) << c.log;
      EXPECT_EQ(c.log.find("serialized"), std::string::npos) << c.log;
    }
    EXPECT_FALSE(ops::gemm_family_supported(tile.family, jit::Arch::parse("sm_90")));
    try {
      ops::gemm_kernel_spec(tile, DType::bf16, jit::Arch::parse("sm_89"));
      ADD_FAILURE() << "wgmma_bf16 must refuse sm_89";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::unsupported);
    }
  }
  EXPECT_GE(tiles, 2);
}

// The bf16 GEMMs' wgmmas take A from registers, and ptxas may hand those registers to other values while
// the wgmma group still reads them (bench/METHOD.md, session 21: a variant that did so gave run-dependent
// results). tools/sass_wgmma_hazards.py finds such writes in the SASS. Needs nvdisasm and python3 on PATH
// (the GPU image has both); skipped elsewhere.
TEST(NvrtcCompile, Bf16WgmmaKernelsNeverWriteTheRegistersOfAWgmmaInFlight) {
  if (std::system("command -v nvdisasm >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "needs nvdisasm and python3 on PATH";
  const jit::Arch arch = jit::Arch::parse("sm_90a");
  std::vector<jit::KernelSpec> specs;
  for (const ops::GemmTile& tile : ops::gemm_tiles)
    if (tile.family == ops::GemmFamily::wgmma_bf16) specs.push_back(ops::gemm_kernel_spec(tile, DType::bf16, arch));
  for (const ops::GemmTile& tile : ops::grouped_gemm_tiles)
    if (tile.family == ops::GemmFamily::wgmma_bf16)
      for (jit::KernelSpec& s : ops::grouped_gemm_launch_kernel_specs(tile, DType::bf16, arch))
        if (s.family == "mxfp8_grouped_gemm_wgmma_bf16") specs.push_back(std::move(s));
  ASSERT_GE(specs.size(), 4u);
  testing::TempDir dir("sass");
  std::string files;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const std::string stem = dir / (specs[i].family + "-" + std::to_string(i));  // the report names the file
    testing::write_bytes(stem + ".cubin", jit::compile_cubin(specs[i], jit::nvrtc_options(arch, false), "").cubin);
    ASSERT_EQ(std::system(("nvdisasm -c '" + stem + ".cubin' > '" + stem + ".sass'").c_str()), 0) << specs[i].display_name();
    files += " '" + stem + ".sass'";
  }
  const std::string report = dir / "report.txt";
  const int rc = std::system(("python3 '" MXJIT_SOURCE_DIR "/tools/sass_wgmma_hazards.py'" + files + " > '" + report + "'").c_str());
  const std::string text = testing::read_bytes(report);
  EXPECT_EQ(rc, 0) << text;
  EXPECT_EQ(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')), specs.size()) << text;
}

TEST(NvrtcCompile, ReadSweepForBenchmarks) {
  const jit::KernelSpec spec{"read_sweep", "mxjit::read_sweep_kernel", {}, jit::Arch::parse("sm_90a")};
  EXPECT_EQ(spec.name_expression(), "&mxjit::read_sweep_kernel");
  EXPECT_NE(jit::compile_cubin(spec, jit::nvrtc_options(spec.arch, false), "").lowered_name.find("read_sweep"),
            std::string::npos);
}

TEST(NvrtcCompile, TemplatesAreEmbedded) {
  bool found = false;
  for (const jit::EmbeddedFile& f : jit::embedded_templates()) found = found || f.name == "mxfp8_quantize.cuh";
  EXPECT_TRUE(found);
  EXPECT_EQ(jit::template_bundle_hash().size(), 32u);
}

// A copy of the templates on disk (MXJIT_TEMPLATE_DIR), one of them edited.
void write_templates(const std::filesystem::path& dir, std::string_view edited, std::string_view extra) {
  for (const jit::EmbeddedFile& f : jit::embedded_templates()) {
    std::ofstream out(dir / f.name, std::ios::binary);
    out << f.text;
    if (f.name == edited) out << extra;
  }
}

TEST(NvrtcCompile, TemplateDirReadsEveryTemplateAsItIsOnDisk) {
  testing::TempDir dir("templates");
  write_templates(dir.path(), "mxfp8_numerics.cuh", "\n// edited\n");
  const std::vector<jit::TemplateFile> files = jit::read_template_dir(dir.path().string());
  ASSERT_EQ(files.size(), jit::embedded_templates().size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    const jit::EmbeddedFile& embedded = jit::embedded_templates()[i];
    EXPECT_EQ(files[i].name, embedded.name);
    EXPECT_EQ(files[i].text, std::string(embedded.text) + (embedded.name == "mxfp8_numerics.cuh" ? "\n// edited\n" : ""));
  }
}

TEST(NvrtcCompile, TemplateDirMissingAFileNamesIt) {
  testing::TempDir dir("templates");
  write_templates(dir.path(), "", "");
  std::filesystem::remove(dir.path() / "mxfp8_gemm_decode_tma.cuh");
  const std::string message =
      testing::error_message(ErrorCode::invalid_argument, [&] { jit::read_template_dir(dir.path().string()); });
  EXPECT_CONTAINS(message, "mxfp8_gemm_decode_tma.cuh");
  EXPECT_CONTAINS(message, dir.path().string());
}

TEST(NvrtcCompile, PtxForDumps) {
  const auto spec = ops::quantize_kernel_spec(DType::bf16, ScaleLayout::linear, ScaleRule::rceil, jit::Arch::parse("sm_90a"));
  const std::string ptx = jit::compile_ptx(spec, jit::nvrtc_options(spec.arch, false));
  EXPECT_NE(ptx.find(".target sm_90a"), std::string::npos);
  EXPECT_NE(ptx.find("cvt.rn.satfinite.e4m3x2.f32"), std::string::npos);
}

TEST(NvrtcCompile, FailureNamesKernelOptionsLogAndSavedSource) {
  // A name expression that cannot instantiate: the template has no such argument list.
  jit::KernelSpec bad{"mxfp8_quantize", "mxjit::mxfp8_quantize_kernel", {{"in", "mxjit::NoSuchType"}},
                      jit::Arch::parse("sm_90a")};
  const std::string dir = ::testing::TempDir() + "mxjit-compile-failure";
  try {
    jit::compile_cubin(bad, jit::nvrtc_options(bad.arch, false), dir);
    FAIL() << "expected a compile error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.code(), ErrorCode::compile_error);
    EXPECT_NE(what.find("mxfp8_quantize<in=mxjit::NoSuchType>@sm_90a"), std::string::npos) << what;
    EXPECT_NE(what.find("--gpu-architecture=sm_90a"), std::string::npos) << what;
    EXPECT_NE(what.find("NoSuchType"), std::string::npos) << what;
    const std::size_t at = what.find(dir);
    ASSERT_NE(at, std::string::npos) << what;
    const std::string path = what.substr(at, what.find(".cu", at) + 3 - at);
    EXPECT_TRUE(std::filesystem::exists(path)) << path;
  }
}

}  // namespace
}  // namespace mxjit
