#include "jit/warmup.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace mxjit::jit {

int WarmupReport::failures() const {
  return static_cast<int>(std::count_if(items.begin(), items.end(), [](const WarmupItem& i) { return !i.error.empty(); }));
}

WarmupReport warmup(KernelCache& cache, const std::vector<KernelSpec>& specs, int jobs,
                    const std::function<void(std::size_t, std::size_t, const WarmupItem&)>& progress,
                    const IsolatedBuild& isolated) {
  const bool isolate = isolated && cache.disk_enabled();
  WarmupReport report;
  report.items.resize(specs.size());
  std::atomic<std::size_t> next{0};
  std::size_t done = 0;
  std::mutex progress_mutex;
  const auto start = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (std::size_t i = next++; i < specs.size(); i = next++) {
      WarmupItem& item = report.items[i];
      item.name = specs[i].display_name();
      const auto t0 = std::chrono::steady_clock::now();
      try {
        if (!isolate) {
          cache.get(specs[i], &item.origin);
        } else if (const std::optional<Origin> found = cache.cached(specs[i])) {
          item.origin = *found;
        } else {
          item.origin = Origin::compiled;
          item.error = isolated(specs[i]);
        }
      } catch (const std::exception& e) {
        item.error = e.what();
      }
      item.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::lock_guard lock(progress_mutex);
      ++done;
      if (progress) progress(done, specs.size(), item);
    }
  };
  std::vector<std::thread> threads;
  const int n = std::clamp<int>(jobs, 1, std::max<int>(1, static_cast<int>(specs.size())));
  for (int t = 0; t < n; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  report.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace mxjit::jit
