#!/usr/bin/env bash
# Whether two threads slow each other on loops that measure::core_share's dependent chain
# does not feel (bench/smt_pair.cpp: FMAs in registers, FMAs through memory). Builds into
# build/bench/ (-O2).
# Usage: bench/smt_pair.sh [PAIRS=10]
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${BENCH_OUT:-$repo_root/build/bench}"
mkdir -p "$out_dir"
${CXX:-g++} -std=c++20 -O2 -DNDEBUG -pthread "$repo_root/bench/smt_pair.cpp" -o "$out_dir/smt_pair"
"$out_dir/smt_pair" "$@"
