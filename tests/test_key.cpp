// jit::make_key: the cache key must be stable for equal inputs and change with anything that can
// change the compiled binary.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "jit/embedded_templates.hpp"
#include "jit/hash.hpp"
#include "jit/key.hpp"
#include "jit/nvrtc_compiler.hpp"
#include "ops/quantize.hpp"
#include "tests/test_support.hpp"

namespace mxjit {
namespace {

using EnvPairs = std::vector<std::pair<std::string, std::string>>;

// Everything make_key() looks at, so a test can change one piece at a time.
struct KeyInputs {
  jit::KernelSpec spec =
      ops::quantize_kernel_spec(DType::bf16, ScaleLayout::linear, ScaleRule::rceil, jit::Arch::parse("sm_90a"));
  std::vector<std::string> options = jit::nvrtc_options(spec.arch, false);
  EnvPairs env = {{"MXJIT_LINEINFO", "0"}};

  jit::CacheKey key() const { return jit::make_key(spec, options, env); }
};

bool is_lower_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(CacheKey, StableForEqualInputs) {
  const jit::CacheKey a = KeyInputs{}.key(), b = KeyInputs{}.key();
  EXPECT_EQ(a.record, b.record);
  EXPECT_EQ(a.hex, b.hex);
  EXPECT_EQ(a.hex.size(), 32u);
  EXPECT_TRUE(is_lower_hex(a.hex)) << a.hex;
}

TEST(CacheKey, RecordNamesEverythingThatShapesTheBinary) {
  const KeyInputs in;
  const std::string record = in.key().record;
  EXPECT_CONTAINS(record, "templates=" + jit::template_bundle_hash() + "\n");
  EXPECT_CONTAINS(record, "nvrtc=" + jit::nvrtc_version_string() + "\n");
  EXPECT_CONTAINS(record, "arch=sm_90a\n");
  EXPECT_CONTAINS(record, "family=mxfp8_quantize\n");
  EXPECT_CONTAINS(record, "function=mxjit::mxfp8_quantize_kernel\n");
  EXPECT_CONTAINS(record, "arg.in=mxjit::Bf16\n");
  EXPECT_CONTAINS(record, "option=--gpu-architecture=sm_90a\n");
  EXPECT_CONTAINS(record, "env.MXJIT_LINEINFO=0\n");
}

// A named change to one input; the key after it must differ from the base key and every other one.
struct Mutation {
  std::string what;
  std::function<void(KeyInputs&)> apply;
};

std::vector<Mutation> single_changes() {
  std::vector<Mutation> m;
  const KeyInputs base;
  for (std::size_t i = 0; i < base.spec.args.size(); ++i) {
    const std::string name = base.spec.args[i].name;
    m.push_back({"value of arg " + name, [i](KeyInputs& k) { k.spec.args[i].value += "_x"; }});
    m.push_back({"name of arg " + name, [i](KeyInputs& k) { k.spec.args[i].name += "_x"; }});
  }
  m.push_back({"another unroll", [](KeyInputs& k) { k.spec.args.back().value = k.spec.args.back().value == "1" ? "8" : "1"; }});
  m.push_back({"one arg fewer", [](KeyInputs& k) { k.spec.args.pop_back(); }});
  m.push_back({"arch sm_90", [](KeyInputs& k) { k.spec.arch = jit::Arch::parse("sm_90"); }});
  m.push_back({"arch sm_100a", [](KeyInputs& k) { k.spec.arch = jit::Arch::parse("sm_100a"); }});
  for (std::size_t i = 0; i < base.options.size(); ++i)
    m.push_back({"option " + base.options[i], [i](KeyInputs& k) { k.options[i] += "_x"; }});
  m.push_back({"extra option", [](KeyInputs& k) { k.options.push_back("--generate-line-info"); }});
  m.push_back({"no options", [](KeyInputs& k) { k.options.clear(); }});
  m.push_back({"env value", [](KeyInputs& k) { k.env[0].second = "1"; }});
  m.push_back({"env name", [](KeyInputs& k) { k.env[0].first = "MXJIT_OTHER"; }});
  m.push_back({"extra env pair", [](KeyInputs& k) { k.env.emplace_back("MXJIT_OTHER", "0"); }});
  m.push_back({"no env pairs", [](KeyInputs& k) { k.env.clear(); }});
  m.push_back({"family", [](KeyInputs& k) { k.spec.family = "mxfp8_quantize2"; }});
  m.push_back({"function", [](KeyInputs& k) { k.spec.function = "mxjit::other_kernel"; }});
  return m;
}

TEST(CacheKey, EveryInputChangesTheHash) {
  const jit::CacheKey base = KeyInputs{}.key();
  std::vector<std::pair<std::string, jit::CacheKey>> seen = {{"base", base}};
  for (const Mutation& m : single_changes()) {
    SCOPED_TRACE(m.what);
    KeyInputs in;
    m.apply(in);
    const jit::CacheKey key = in.key();
    EXPECT_NE(key.record, base.record);
    EXPECT_EQ(key.hex.size(), 32u);
    for (const auto& [other_what, other] : seen) EXPECT_NE(key.hex, other.hex) << "same hash as: " << other_what;
    seen.emplace_back(m.what, key);
  }
  EXPECT_GT(seen.size(), 20u);  // the mutation list really covers the inputs
}

TEST(CacheKey, HexIsTheHashOfTheRecord) {
  // The disk cache relies on this to verify entry file names (DiskCache::verify_and_remove_bad).
  KeyInputs in;
  for (const char* arch : {"sm_90a", "sm_100a"}) {
    in.spec.arch = jit::Arch::parse(arch);
    const jit::CacheKey key = in.key();
    EXPECT_EQ(key.hex, jit::xxh3_128_hex(key.record)) << arch;
  }
}

// The text a compiler process is handed names the same specialization, key included; anything else is
// refused with the reason.
TEST(KernelSpecText, RoundTripsAndRejectsMalformedText) {
  const KeyInputs inputs;
  jit::KernelSpec spec = inputs.spec;
  spec.args.push_back({"out", "mxjit::OutBf16"});
  const jit::KernelSpec back = jit::KernelSpec::from_text(spec.to_text());
  EXPECT_EQ(back.display_name(), spec.display_name());
  EXPECT_EQ(back.function, spec.function);
  EXPECT_EQ(jit::make_key(back, inputs.options, inputs.env).hex, jit::make_key(spec, inputs.options, inputs.env).hex);
  const jit::KernelSpec no_args{"mxfp8_dequantize_bf16", "mxjit::mxfp8_dequantize_bf16_kernel", {}, spec.arch};
  EXPECT_EQ(jit::KernelSpec::from_text(no_args.to_text()).name_expression(), no_args.name_expression());
  EXPECT_CONTAINS(testing::error_message(ErrorCode::invalid_argument, [] { jit::KernelSpec::from_text("only a family\n"); }),
                  "not a kernel spec");
  EXPECT_CONTAINS(testing::error_message(ErrorCode::invalid_argument, [&] {
                    jit::KernelSpec::from_text(no_args.to_text() + "novalue\n");
                  }),
                  "'novalue' is not name=value");
}

}  // namespace
}  // namespace mxjit
