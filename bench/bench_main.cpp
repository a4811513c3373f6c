// mxjit benchmarks. GPU benchmarks skip themselves where no GPU exists; JIT compile benchmarks run anywhere.
#include <benchmark/benchmark.h>

#include "mxjit/mxjit.hpp"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("mxjit_version", mxjit::version());
  if (mxjit::gpu_count() > 0) {
    const mxjit::GpuInfo gpu = mxjit::gpu_info(0);
    benchmark::AddCustomContext("gpu", gpu.name);
    benchmark::AddCustomContext("gpu_arch", gpu.arch);
    benchmark::AddCustomContext("gpu_sm_count", std::to_string(gpu.sm_count));
  } else {
    benchmark::AddCustomContext("gpu", "none");
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
