#!/usr/bin/env bash
# How much of a second core a 2-thread run gets, window by window (bench/core_pair.cpp):
# run it beside a 2-thread profile or validate to tell a slow round caused by the VM from
# one caused by the model. Builds into build/bench/ (-O2).
# Usage: bench/core_pair.sh [SECONDS=30]
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${BENCH_OUT:-$repo_root/build/bench}"
mkdir -p "$out_dir"
${CXX:-g++} -std=c++20 -O2 -DNDEBUG -pthread "$repo_root/bench/core_pair.cpp" -o "$out_dir/core_pair"
"$out_dir/core_pair" "$@"
