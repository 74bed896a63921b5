#!/usr/bin/env bash
# Whether two threads slow each other on loops that a dependent scalar chain does not feel
# (bench/smt_pair.cpp: measure::core_share's FMAs in registers, FMAs through memory).
# Builds into build/bench/ (-O2) against the measure library of build/ (make build first).
# Usage: bench/smt_pair.sh [PAIRS=10]
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${BENCH_OUT:-$repo_root/build/bench}"
mkdir -p "$out_dir"
build="${BUILD:-$repo_root/build}"
${CXX:-g++} -std=c++20 -O2 -DNDEBUG -pthread -I"$repo_root/include" "$repo_root/bench/smt_pair.cpp" \
  "$build/libinfercast_measure.a" "$build/libinfercast_base.a" -o "$out_dir/smt_pair"
"$out_dir/smt_pair" "$@"
