#!/usr/bin/env bash
# The main job: build, warm the kernel cache for a model deployment (default: Llama-3-8B, TP=1) and for
# every kernel the ops dispatch to (sm_90a, or the GPU present), show that a second run is all cache
# hits, and on a GPU check every quantize kernel bit-exact against the CPU reference.
# Usage: bash tools/run_main.sh [model config.json] [tp] [ep]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
mxjit=$MXJIT_BUILD/tools/mxjit
model=${1:-$mxjit_root/tools/models/llama-3-8b.json}
tp=${2:-1}
ep=${3:-1}
"$mxjit" info
"$mxjit" warmup --model "$model" --tp "$tp" --ep "$ep"
"$mxjit" warmup
echo "--- second run (expected: all cache hits) ---"
"$mxjit" warmup --model "$model" --tp "$tp" --ep "$ep" | tail -n 1
"$mxjit" warmup | tail -n 1
"$mxjit" check
