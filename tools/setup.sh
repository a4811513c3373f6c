#!/usr/bin/env bash
# Shared by the README's two commands: installs what a fresh Debian/Ubuntu machine lacks, then builds.
# Usage: source tools/setup.sh  (sets MXJIT_BUILD to the build directory)
set -euo pipefail

mxjit_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MXJIT_BUILD=${MXJIT_BUILD:-$mxjit_root/build}

# Debian packages for the build: header -> package.
declare -A needed=(
  [/usr/include/fmt/format.h]=libfmt-dev
  [/usr/include/xxhash.h]=libxxhash-dev
  [/usr/include/gtest/gtest.h]=libgtest-dev
  [/usr/include/benchmark/benchmark.h]=libbenchmark-dev
  [/usr/include/CLI/CLI.hpp]=libcli11-dev
  [/usr/include/nlohmann/json.hpp]=nlohmann-json3-dev
)
missing=()
for header in "${!needed[@]}"; do [ -e "$header" ] || missing+=("${needed[$header]}"); done
command -v cmake >/dev/null || missing+=(cmake)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v g++ >/dev/null || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
  echo "mxjit setup: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd=sudo
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The CUDA toolkit (NVRTC and cuda.h) comes with the machine, not from apt: find it or explain.
if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "mxjit setup: no CUDA toolkit found (need NVRTC and cuda.h, CUDA >= 12.8, e.g. /usr/local/cuda)" >&2
  exit 1
fi
export PATH=$PATH:/usr/local/cuda/bin

cmake -S "$mxjit_root" -B "$MXJIT_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release ${MXJIT_CMAKE_ARGS:-} >/dev/null
ninja -C "$MXJIT_BUILD"
