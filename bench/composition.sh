#!/usr/bin/env bash
# The whole-model composition of a profile, network by network: builds
# bench/composition_report.cpp against build/ (as bench/predict_speed.sh does) and prints
# a CSV (family, MACs, measured, kernels' sum, composed, time per group), then a summary
# per block family.
# Usage: bench/composition.sh BUNDLE DB PROFILE      e.g. ... xnnpack.bundle xnnpack.bundle.db xnnpack-1t
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$repo/build"
out="$build/bench_composition_report"
libs="$(sed -e 's/^.* -o infercast //' "$build/CMakeFiles/infercast_cli.dir/link.txt")"
(cd "$build" && c++ -O2 -DNDEBUG -DFMT_SHARED -std=c++20 -I"$repo/include" "$repo/bench/composition_report.cpp" \
  -o "$out" $libs -lpthread)
"$out" "$(realpath "$1")" "$(realpath "$2")" "$3" | tee "${TMPDIR:-/tmp}/composition.csv" | /usr/bin/python3 -c '
import csv, sys, statistics
rows = list(csv.DictReader(sys.stdin))
print(f"{len(rows)} networks")
print("family       n   kernels/measured  composed/measured  within10 (kernels, composed)")
for fam in sorted({r["family"] for r in rows}):
    rs = [r for r in rows if r["family"] == fam]
    k = [float(r["kernels_ms"]) / float(r["measured_ms"]) for r in rs]
    c = [float(r["composed_ms"]) / float(r["measured_ms"]) for r in rs]
    w = lambda xs: sum(abs(x - 1) <= 0.1 for x in xs) / len(xs)
    print(f"{fam:12s} {len(rs):3d}   {statistics.median(k):6.3f}            {statistics.median(c):6.3f}             {w(k):.0%}, {w(c):.0%}")
'
