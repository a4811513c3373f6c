#!/usr/bin/env bash
# All tests: build, then every CTest case (GPU cases skip themselves where no GPU exists).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ctest --test-dir "$MXJIT_BUILD" --output-on-failure -j "$(nproc)" "$@"
