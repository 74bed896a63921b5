#!/usr/bin/env bash
# Builds the libFuzzer targets in build-fuzz/ (clang, ASan + UBSan) and runs each for
# SECONDS (default 30) on a copy of the checked-in seeds, so the repo is not modified.
#
#   scripts/fuzz.sh [SECONDS] [onnx|tflite]...
#
# Exits non-zero when a fuzzer finds a crash, leak, timeout or out-of-memory input,
# and prints the path of the saved input. Reproduce one with
#   build-fuzz/fuzz/fuzz_<format>_import <input>
# and, once fixed, copy it to fuzz/corpus/<format>/crash_<what>.<ext> as a regression seed.
#
# FUZZ_RUNS=N makes a run reproducible: a fresh corpus of the checked-in seeds, a fixed
# seed (FUZZ_SEED, default 1) and at most N inputs (SECONDS still caps it). `make test`
# uses this, so CI replays the same inputs every time; open-ended exploration is
# `make fuzz` (time-bounded, random seed).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
seconds=${1:-30}
shift || true
formats=("$@")
[[ ${#formats[@]} -gt 0 ]] || formats=(onnx tflite)
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -eq 0 ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [onnx|tflite]..." >&2
  exit 2
fi
for f in "${formats[@]}"; do
  [[ $f == onnx || $f == tflite ]] || { echo "fuzz.sh: unknown format '$f' (onnx or tflite)" >&2; exit 2; }
done

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER="${FUZZ_CC:-clang}" -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++}" \
    -DINFERCAST_BUILD_FUZZERS=ON -DINFERCAST_BUILD_TESTS=OFF >/dev/null
fi
targets=()
for f in "${formats[@]}"; do targets+=("fuzz_${f}_import"); done
cmake --build "$build" --target "${targets[@]}" -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for f in "${formats[@]}"; do
  fuzzer="$build/fuzz/fuzz_${f}_import"
  corpus="$build/corpus/$f"
  artifacts="$build/artifacts/$f"
  log="$build/logs/$f.log"
  extra=()
  if [[ -n ${FUZZ_RUNS:-} ]]; then
    corpus="$build/corpus-replay/$f"
    rm -rf "$corpus"
    extra=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
  fi
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  cp -f "$root/fuzz/corpus/$f/"* "$corpus/"
  echo "== fuzz_${f}_import: ${seconds}s on $corpus (log: $log)"
  set +e
  "$fuzzer" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 "${extra[@]}" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  grep -E '^Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb' "$log" || true
  if [[ $rc -ne 0 ]]; then
    failed=1
    echo "fuzz_${f}_import FAILED (exit $rc); last report:" >&2
    grep -E 'ERROR: |SUMMARY: |runtime error:|terminate called|==[0-9]+== ' "$log" | head -5 >&2 || true
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "crash input: ${input:-(none saved; see $log)}" >&2
  fi
done
exit $failed
