#!/usr/bin/env bash
# Builds the benchmark binary of another revision (default: HEAD) into build-baseline, from a worktree in
# .baseline-src, for tools/run_device.sh's same-run A/B (BASELINE_BUILD=build-baseline, carry it with
# .deps). Run it here, where the build tools are; the device then needs no build for either side.
# Usage: bash tools/build_baseline.sh [REV]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rev=$(git rev-parse --verify "${1:-HEAD}^{commit}")
git worktree remove --force .baseline-src 2>/dev/null || rm -rf .baseline-src
git worktree prune
git worktree add --detach .baseline-src "$rev" >/dev/null
cmake -S .baseline-src -B build-baseline -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build-baseline mxjit_bench
mkdir -p .deps/lib && cp -L "$(ldd build-baseline/bench/mxjit_bench | awk '/libbenchmark/ {print $3}')" .deps/lib/
echo "build-baseline: benchmarks of $(git rev-parse --short "$rev"); carry build-baseline and .deps"
