// Base fixture of every GPU test: skips cleanly where no GPU exists, else makes device 0 current.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::testing {

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!runtime::gpu_available()) GTEST_SKIP() << "no CUDA driver or GPU on this machine";
    context_ = std::make_unique<runtime::PrimaryContext>(0);
    stream_ = std::make_unique<runtime::Stream>();
  }
  CUstream stream() const { return stream_->get(); }

  std::unique_ptr<runtime::PrimaryContext> context_;
  std::unique_ptr<runtime::Stream> stream_;
};

}  // namespace mxjit::testing
