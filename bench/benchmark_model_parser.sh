#!/usr/bin/env bash
# Parser throughput on large benchmark_model op profiles (aligned and CSV), next to a
# memchr newline scan of the same buffer (the floor of any line reader), in one process.
# Builds bench/benchmark_model_parser.cpp with the parser's two source files (-O2, as
# RelWithDebInfo builds it) into build/bench/. Single-threaded; median of >= 20 runs and
# >= 1 s per figure, after 3 warm-up runs.
# Usage: bench/benchmark_model_parser.sh [ROWS ...]   (default: 2000 20000)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${BENCH_OUT:-$repo_root/build/bench}"
mkdir -p "$out_dir"
${CXX:-g++} -std=c++20 -O2 -DNDEBUG -I"$repo_root/include" \
  "$repo_root/bench/benchmark_model_parser.cpp" \
  "$repo_root/src/runtime/process/benchmark_model_parser.cpp" \
  "$repo_root/src/base/error.cpp" \
  -o "$out_dir/benchmark_model_parser"
"$out_dir/benchmark_model_parser" "$@"
