#!/usr/bin/env bash
# The main job: build, precompile every kernel for sm_90a (or the GPU present) into the disk cache, show
# that a second run is all cache hits, and on a GPU check every kernel against the CPU reference.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
mxjit=$MXJIT_BUILD/tools/mxjit
"$mxjit" info
"$mxjit" warmup "$@"
echo "--- second run (expected: all cache hits) ---"
"$mxjit" warmup "$@" | tail -n 1
"$mxjit" check
