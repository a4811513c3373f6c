#!/usr/bin/env bash
# On the lent GPU machine, in one call: build, warm the cache, self-check, run every test (GPU ones
# included) and the benchmarks; everything lands under $OUT, with summary.json last.
# Pass GIT_COMMIT=<sha> where the tree travels without .git. The device image has no xxhash.h: carry .deps/ (libxxhash-dev unpacked there, see README).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
build=build-device
if [ -n "${PREBUILT:-}" ]; then  # the build made on the CPU machine, carried with .deps (see README)
  build=build
  export LD_LIBRARY_PATH="$PWD/.deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# TEST_FILTER / BENCH_FILTER narrow a run (CTest regex over test names, benchmark regex); unset,
# everything runs. TEST_TIMEOUT (per test) and BENCH_TIMEOUT (the whole benchmark step), in seconds, stop a
# hung step so that the rest of the results still come back. SANITIZE_FILTER (a gtest filter) runs those
# tests once more under compute-sanitizer, each tool of SANITIZE_TOOLS (default: synccheck racecheck).
# NCU_BENCH (a benchmark regex) and NCU_KERNEL (a kernel-name regex) profile one launch of that kernel
# in those benchmarks with ncu: its details page (throughputs, occupancy, warp states) and the summary of
# its per-SASS-instruction stalls by tools/ncu_stalls.py in ncu.txt, the stalls themselves in ncu-sass.csv
# (in logs.tar.gz); NCU_SKIP (default 3) matching launches are skipped first. NCU_TIMES (a benchmark regex)
# times every kernel launch of those benchmarks alone under ncu (no overlap between launches, clocks
# as they are): ncu-times.csv in order, and the per-kernel medians in ncu-times.txt; NCU_TIMES_KERNEL (a
# kernel-name regex) keeps only those launches, NCU_TIMES_METRICS (comma-separated ncu metrics) adds
# their per-kernel medians. QUICK=1 leaves out
# `mxjit tune` and the SASS statistics (about a minute) when device time is short. PREBUILT=1 skips the build (about 80 s) and runs the carried `build`.
# VARIANTS="name=file.patch ..." with VARIANT_BENCH (a benchmark regex) measures probes of a kernel: for
# the tree as it is ("base") and then each patch applied alone, the benchmark binary is rebuilt and
# VARIANT_BENCH run; the patch is reversed after. All of it lands in variants.json (name -> Google
# Benchmark JSON). Needs a build made on the device (a carried build cannot rebuild there).
# TEMPLATE_VARIANTS="name=file.patch ..." runs kernel variants without a rebuild (so with PREBUILT=1 too):
# for the embedded templates ("base") and then each patch (from the repository root, as `git diff` writes
# it, touching templates/ only) applied to a copy of templates/, passed as MXJIT_TEMPLATE_DIR, the tests of
# VARIANT_TESTS (a gtest filter, repeated VARIANT_REPEAT times, default 2) and the benchmarks of
# VARIANT_BENCH run; into template-variants/<name>.txt and .json (in logs.tar.gz), a line each here.
# "base" repeats the tree's own VARIANT_TESTS and VARIANT_BENCH: narrow TEST_FILTER / BENCH_FILTER to what the
# variants do not cover, or a 10-minute call runs out before the last variant (session 19's first call).
# BASELINE_BUILD=dir (a build of another revision made here by tools/build_baseline.sh, carried) runs its
# benchmark binary on the same BENCH_FILTER right after the tree's own, into baseline.json: a same-run
# A/B that needs no build on the device, so it also works with PREBUILT=1.
filter=${TEST_FILTER:-.}
# DEADLINE (seconds, default 540) keeps the whole run under the device tool's limit: every long step gets at
# most what is left, steps are skipped once it is spent, and what was gathered is still summarized and
# packed. (A call killed from outside returns only loose files, at most 8, and no summary: session 20 lost
# two variant A/Bs that way.) Raise it only with the call's own timeout.
deadline=$((SECONDS + ${DEADLINE:-540}))
# Runs a command under `timeout`: at most $1 seconds (0: no cap of its own), never past the deadline.
within() {
  local cap=$1 left=$((deadline - SECONDS))
  shift
  if [ $left -le 5 ]; then echo "deadline reached: skipped ${1##*/}" >&2; return 124; fi
  if [ "$cap" -gt 0 ] && [ "$cap" -lt $left ]; then left=$cap; fi
  timeout $left "$@"
}
bench_filter=${BENCH_FILTER:-.}

if [ -n "${PREBUILT:-}" ]; then
  [ -x $build/tests/mxjit_tests ] && [ -x $build/bench/mxjit_bench ] ||
    { echo "PREBUILT=1: carry 'build' (with tests and bench built) and '.deps'"; exit 1; }
  echo "prebuilt: $build carried from the CPU machine" >"$OUT/build.log"
else
  { cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DXXHASH_INCLUDE_DIR="$PWD/.deps/xxhash/usr/include" &&
    ninja -C $build -j16; } >"$OUT/build.log" 2>&1 || { tail -n 60 "$OUT/build.log"; exit 1; }
fi

export MXJIT_CACHE_DIR=$(mktemp -d)
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv; echo "${GIT_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}";
  date -u +%FT%TZ; $build/tools/mxjit info; $build/tools/mxjit warmup -j16 | tail -n 1; $build/tools/mxjit check;
  [ -n "${QUICK:-}" ] ||
    $build/tools/mxjit tune --shapes 4096:4096,28672:4096 --tokens 1,64 --budget-ms 300 --db "$OUT/tuning.json" -q; } \
  2>&1 | tee "$OUT/check.txt"

# What the kernels compile to: opcode counts per kernel from the SASS (nvdisasm is on the GPU image).
[ -n "${QUICK:-}" ] || {
sass=$(mktemp -d)
MXJIT_FORCE_RECOMPILE=1 MXJIT_DUMP=sass,source MXJIT_DUMP_DIR=$sass $build/tools/mxjit warmup -j16 >/dev/null 2>&1
for f in "$sass"/*.sass; do
  printf '%s' "$(basename "$f" .sass) $(head -c 0 "$f")"
  for op in HMMA QMMA HGMMA QGMMA F2FP FFMA FMUL LDS LDSM LDGSTS; do
    printf ' %s=%s' "$op" "$(grep -cE "[[:space:]]$op[. ]" "$f")"
  done
  printf ' total=%s\n' "$(grep -cE '^ +/\*[0-9a-f]{4}\*/' "$f")"
done >"$OUT/sass_stats.txt"
grep -h "mxjit generated" "$sass"/*.cu 2>/dev/null >>"$OUT/sass_stats.txt"
}

# One process per test, 16 at a time: the tests' NVRTC compiles and CPU references are what take long.
within 0 ctest --test-dir $build -j16 -R "$filter" --timeout "${TEST_TIMEOUT:-600}" --output-junit "$OUT/tests.xml" \
  --output-log "$OUT/tests.log" >"$OUT/ctest.txt" 2>&1
tests_rc=$?
grep -E "tests passed|Failed|Timeout|\*\*\*" "$OUT/ctest.txt" | tail -n 30
# Failures once more, with their output (and whether they fail again: a flake passes here).
[ $tests_rc -eq 0 ] || within 0 ctest --test-dir $build --rerun-failed --output-on-failure --timeout "${TEST_TIMEOUT:-600}" \
  >"$OUT/failed-rerun.txt" 2>&1

if [ -n "${SANITIZE_FILTER:-}" ]; then
  for tool in ${SANITIZE_TOOLS:-synccheck racecheck}; do
    within 300 compute-sanitizer --tool $tool --error-exitcode 1 $build/tests/mxjit_tests \
      --gtest_filter="$SANITIZE_FILTER" >"$OUT/sanitize-$tool.txt" 2>&1
    echo "compute-sanitizer $tool: rc $?"
  done
fi

within "${BENCH_TIMEOUT:-0}" $build/bench/mxjit_bench --benchmark_filter="$bench_filter" --benchmark_out="$OUT/bench.json" \
  --benchmark_out_format=json --benchmark_counters_tabular=true 2>&1 | tee "$OUT/bench.txt" | tail -n 40

if [ -n "${BASELINE_BUILD:-}" ]; then  # its own kernel cache: the revisions' kernels must not meet
  MXJIT_CACHE_DIR=$(mktemp -d) LD_LIBRARY_PATH="$PWD/.deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    within "${BENCH_TIMEOUT:-0}" "$BASELINE_BUILD/bench/mxjit_bench" --benchmark_filter="$bench_filter" \
    --benchmark_out="$OUT/baseline.json" --benchmark_out_format=json 2>&1 | grep -E "^BM_" | sed "s/^/baseline: /"
fi

if [ -n "${NCU_BENCH:-}" ]; then
  ncu_args=(-k "regex:${NCU_KERNEL:-.}" -s "${NCU_SKIP:-3}" -c 1)
  within 300 ncu "${ncu_args[@]}" --section SpeedOfLight --section ComputeWorkloadAnalysis \
    --section MemoryWorkloadAnalysis --section SchedulerStats --section WarpStateStats --section LaunchStats \
    --section SourceCounters --export "$OUT/profile" $build/bench/mxjit_bench --benchmark_filter="$NCU_BENCH" \
    >"$OUT/ncu.txt" 2>&1
  echo "ncu: rc $?"
  ncu --import "$OUT/profile.ncu-rep" --page details >>"$OUT/ncu.txt" 2>&1  # throughputs, occupancy, stalls
  ncu --import "$OUT/profile.ncu-rep" --page source --print-source sass --csv >"$OUT/ncu-sass.csv" 2>&1
  python3 tools/ncu_stalls.py "$OUT/ncu-sass.csv" >>"$OUT/ncu.txt" 2>&1  # where the warps wait
  rm -f "$OUT/profile.ncu-rep"
fi

if [ -n "${NCU_TIMES:-}" ]; then
  within 300 ncu --clock-control none -k "regex:${NCU_TIMES_KERNEL:-.}" \
    --metrics "gpu__time_duration.sum${NCU_TIMES_METRICS:+,$NCU_TIMES_METRICS}" --csv -c "${NCU_TIMES_COUNT:-300}" \
    $build/bench/mxjit_bench --benchmark_filter="$NCU_TIMES" >"$OUT/ncu-times.csv" 2>&1
  echo "ncu times: rc $?"
  python3 tools/ncu_times.py "$OUT/ncu-times.csv" >"$OUT/ncu-times.txt" 2>&1
fi

if [ -n "${VARIANTS:-}" ]; then
  vdir=$(mktemp -d)
  for v in base $VARIANTS; do
    name=${v%%=*} file=${v#*=}
    if [ "$v" != base ] && ! patch -p1 --forward <"$file" >"$vdir/$name.log" 2>&1; then
      echo "variant $name: $file does not apply"; continue
    fi
    if ninja -C $build -j16 mxjit_bench >>"$vdir/$name.log" 2>&1; then
      within 300 $build/bench/mxjit_bench --benchmark_filter="$VARIANT_BENCH" --benchmark_out="$vdir/$name.json" \
        --benchmark_out_format=json 2>&1 | grep -E "^BM_" | sed "s/^/$name: /"
    else
      echo "variant $name: the build failed"; tail -n 5 "$vdir/$name.log"
    fi
    [ "$v" = base ] || patch -p1 -R <"$file" >/dev/null
  done
  ninja -C $build -j16 mxjit_bench >/dev/null 2>&1  # the tree's own binary again
  python3 -c 'import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
print(json.dumps({p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))}, indent=1))' "$vdir" >"$OUT/variants.json"
fi

if [ -n "${TEMPLATE_VARIANTS:-}" ]; then
  tv="$OUT/template-variants"
  mkdir -p "$tv"
  for v in base $TEMPLATE_VARIANTS; do
    name=${v%%=*} file=${v#*=} dir=
    if [ "$v" != base ]; then
      dir=$(mktemp -d)
      cp -r templates/. "$dir" && patch -d "$dir" -p2 --forward -s <"$file" >"$tv/$name.txt" 2>&1 ||
        { echo "template variant $name: $file does not apply"; continue; }
    fi
    if [ -n "${VARIANT_TESTS:-}" ]; then
      within 300 env MXJIT_TEMPLATE_DIR="$dir" $build/tests/mxjit_tests --gtest_filter="$VARIANT_TESTS" \
        --gtest_repeat="${VARIANT_REPEAT:-2}" >>"$tv/$name.txt" 2>&1
      echo "template variant $name: tests rc $? ($(grep -c '^\[       OK \]' "$tv/$name.txt") passed, $(grep -c '^\[  FAILED  \] [A-Z]' "$tv/$name.txt") failed)"
    fi
    if [ -n "${VARIANT_BENCH:-}" ]; then
      within 300 env MXJIT_TEMPLATE_DIR="$dir" $build/bench/mxjit_bench --benchmark_filter="$VARIANT_BENCH" \
        --benchmark_out="$tv/$name.json" --benchmark_out_format=json 2>&1 | grep -E "^BM_" | sed "s/^/$name: /"
    fi
  done
fi

python3 tools/summarize_device_run.py "$OUT" | tee "$OUT/summary.json"
# At most 8 files come back from the device: the logs travel as one archive.
(cd "$OUT" && tar czf logs.tar.gz --remove-files build.log tests.log bench.txt sass_stats.txt sanitize-*.txt ncu-sass.csv ncu-times.csv \
  template-variants 2>/dev/null)
exit $tests_rc
