#!/usr/bin/env bash
# Per-element cost of the XNNPACK runtime's erf (behind Erf and GELU) on six input
# distributions, beside glibc's erff (bench/erf_flat.cpp). Header-only: needs no build/.
# Usage: bench/erf_flat.sh [ELEMENTS=1048576] [ROUNDS=9]
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${BENCH_OUT:-$repo_root/build/bench}"
mkdir -p "$out_dir"
${CXX:-g++} -std=c++20 -O2 -DNDEBUG -I"$repo_root/src" "$repo_root/bench/erf_flat.cpp" -o "$out_dir/erf_flat"
"$out_dir/erf_flat" "$@"
