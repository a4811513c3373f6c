#include "jit/runtime_state.hpp"

#include <fmt/format.h>

#include "jit/version.hpp"
#include "runtime/device.hpp"

namespace mxjit::jit {
namespace {

std::mutex state_mutex;
RuntimeState* state = nullptr;
InitOptions applied;  // what configure() asked for, to detect conflicting second calls

EnvConfig resolve(const InitOptions& o) {
  EnvConfig c = read_env();
  if (o.cache_dir) c.cache_dir = *o.cache_dir;
  if (o.disk_cache) c.disk_cache = *o.disk_cache;
  if (o.log_level) c.log_level = *o.log_level;
  return c;
}

bool same(const InitOptions& a, const InitOptions& b) {
  return a.cache_dir == b.cache_dir && a.disk_cache == b.disk_cache && a.log_level == b.log_level;
}

}  // namespace

const char* mxjit_version() { return MXJIT_VERSION_STRING; }

RuntimeState::RuntimeState(EnvConfig config)
    : config_(std::move(config)),
      disk_(config_.cache_dir, config_.prebuilt_dirs, config_.disk_cache, config_.cache_max_bytes),
      kernels_(config_, disk_) {
  set_log_level(config_.log_level);
}

RuntimeState& RuntimeState::get() {
  std::lock_guard lock(state_mutex);
  if (!state) state = new RuntimeState(resolve(applied));
  return *state;
}

void RuntimeState::configure(const InitOptions& options) {
  std::lock_guard lock(state_mutex);
  if (state) {
    if (same(options, applied)) return;
    throw Error(ErrorCode::invalid_argument,
                "mxjit is already initialized with other options: call init() once, before any other mxjit call");
  }
  applied = options;
  state = new RuntimeState(resolve(applied));
}

const runtime::Kernel& RuntimeState::load(const KernelSpec& spec, int device, runtime::LaunchShape shape) {
  auto compiled = kernels_.get(spec);
  std::lock_guard lock(loaded_mutex_);
  auto& slot = loaded_[{compiled->key.hex, device}];
  if (!slot)
    slot = std::make_unique<runtime::Kernel>(compiled->cubin, compiled->lowered_name, spec.display_name(), device, shape,
                                              config_.early_start);
  return *slot;
}

}  // namespace mxjit::jit
