#include "jit/tuning_db.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "jit/log.hpp"
#include "jit/nvrtc_compiler.hpp"
#include "jit/version.hpp"
#include "mxjit/error.hpp"
#include "runtime/device.hpp"
#include "runtime/driver_api.hpp"

namespace mxjit::jit {
namespace {

constexpr int format_version = 1;

nlohmann::json to_json(const TuningEnvironment& e) {
  return {{"device", e.device}, {"arch", e.arch}, {"driver", e.driver}, {"nvrtc", e.nvrtc}, {"mxjit", e.mxjit}};
}

std::string key_text(const TuningKey& k) {
  return fmt::format("gemm m<={} n={} k={} out={}", k.m_bucket, k.n, k.k, to_string(k.out));
}

// Parses key_text's format back; nullopt for anything else.
std::optional<TuningKey> parse_key(const std::string& text) {
  TuningKey k;
  long long bucket = 0, n = 0, kk = 0;
  char out[8] = {};
  if (std::sscanf(text.c_str(), "gemm m<=%lld n=%lld k=%lld out=%7s", &bucket, &n, &kk, out) != 4) return std::nullopt;
  const std::string o(out);
  if (o != "bf16" && o != "fp16") return std::nullopt;
  k.m_bucket = bucket;
  k.n = n;
  k.k = kk;
  k.out = o == "fp16" ? DType::fp16 : DType::bf16;
  if (key_text(k) != text) return std::nullopt;  // canonical form only
  return k;
}

}  // namespace

TuningEnvironment tuning_environment(int device) {
  const runtime::DeviceInfo& info = runtime::device_info(device);
  int driver = 0;
  MXJIT_CU(cuDriverGetVersion, &driver);
  return {info.name, info.arch.name(), std::to_string(driver), nvrtc_version_string(), mxjit_version()};
}

std::int64_t TuningKey::bucket_of(std::int64_t m) {
  std::int64_t b = 1;
  while (b < m) b *= 2;
  return b;
}

std::size_t TuningDb::KeyHash::operator()(const TuningKey& k) const noexcept {
  std::size_t h = static_cast<std::size_t>(k.m_bucket) * 0x9E3779B97F4A7C15ull;
  h ^= static_cast<std::size_t>(k.n) + 0x7F4A7C15ull + (h << 6) + (h >> 2);
  h ^= static_cast<std::size_t>(k.k) + 0x9E3779B9ull + (h << 6) + (h >> 2);
  return h ^ static_cast<std::size_t>(k.out);
}

const TuningChoice* TuningDb::find(const TuningKey& key) const {
  if (entries_.empty()) return nullptr;
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

TuningDb TuningDb::load(const std::string& path, const TuningEnvironment& environment) {
  TuningDb db(environment);
  std::ifstream file(path);
  if (!file) {
    if (std::filesystem::exists(path)) throw Error(ErrorCode::io_error, fmt::format("cannot read tuning database {}", path));
    return db;  // nothing tuned yet
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(file);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::io_error, fmt::format("tuning database {} is not valid JSON: {}", path, e.what()));
  }
  auto corrupt = [&](const std::string& why) {
    return Error(ErrorCode::io_error, fmt::format("tuning database {} is malformed: {}", path, why));
  };
  if (!j.is_object() || j.value("format", 0) != format_version) throw corrupt(fmt::format("expected format {}", format_version));
  if (!j.contains("environment") || !j.contains("entries") || !j["entries"].is_object()) throw corrupt("missing environment or entries");
  if (j["environment"] != to_json(environment)) {
    log(LogLevel::warn, "ignoring tuning database {}: it was tuned for {}, this process runs {}", path,
        j["environment"].dump(), to_json(environment).dump());
    return db;
  }
  for (const auto& [text, value] : j["entries"].items()) {
    const std::optional<TuningKey> key = parse_key(text);
    if (!key || !value.is_object() || !value.contains("tile") || !value["tile"].is_number_integer())
      throw corrupt(fmt::format("bad entry '{}'", text));
    db.set(*key, TuningChoice{value["tile"].get<int>(), value.value("us", 0.0)});
  }
  return db;
}

void TuningDb::save(const std::string& path) const {
  TuningDb merged = load(path, environment_);  // keep what other runs tuned in this environment
  for (const auto& [key, choice] : entries_) merged.set(key, choice);
  nlohmann::json entries = nlohmann::json::object();
  for (const auto& [key, choice] : merged.entries_) entries[key_text(key)] = {{"tile", choice.tile}, {"us", choice.microseconds}};
  const nlohmann::json j = {{"format", format_version}, {"environment", to_json(environment_)}, {"entries", entries}};
  const std::string temp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream out(temp);
    out << j.dump(1) << "\n";
    if (!out) throw Error(ErrorCode::io_error, fmt::format("cannot write tuning database {}", temp));
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    throw Error(ErrorCode::io_error, fmt::format("cannot replace tuning database {}", path));
  }
}

}  // namespace mxjit::jit
