#!/usr/bin/env bash
# Throughput of `infercast bench`: kernels per minute and harness overhead
# = (wall - sum of the kernels' own timed runs) / wall, for XNNPACK (target <= 10%) and
# ONNX Runtime, on the same sampled kernels (grid sampler, same seed), each into a fresh
# database. Also the noise: median CV and how many kernels needed re-measuring.
# Needs build/infercast (make) and, for ort, the runner (scripts/install_runners.sh).
# Usage: bench/bench_throughput.sh [--count N] [--threads N] [--runtimes "xnnpack ort"] [extra bench options...]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cli="$repo_root/build/infercast"
count=60
threads=1
runtimes="xnnpack ort"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --runtimes) runtimes="$2"; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[[ -x "$cli" ]] || { echo "bench_throughput: build/infercast is missing (run make)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

printf '%-8s %8s %9s %9s %9s %12s %10s %12s\n' runtime kernels wall_s timed_s overhead kernels/min median_cv re-measured
for rt in $runtimes; do
  db="$work/$rt.db"
  line="$("$cli" bench --runtime "$rt" --db "$db" --count "$count" --threads "$threads" --sampler grid --seed 1 -q \
          "${extra[@]}" | tail -n 1)"
  stats="$("$cli" db stats --db "$db" --format json)"
  /usr/bin/python3 - "$rt" "$line" "$stats" <<'PY'
import json, re, sys
rt, line, stats = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
m = re.search(r"(\d+) measured, (\d+) failed.*?([\d.]+) kernels/min; wall ([\d.]+) s, timed ([\d.]+) s, "
              r"harness overhead ([\d.]+)%", line)
if not m:
    sys.exit(f"bench_throughput: unexpected summary: {line}")
measured, failed, rate, wall, timed, overhead = m.groups()
print(f"{rt:<8} {int(measured) + int(failed):>8} {float(wall):>9.1f} {float(timed):>9.1f} {overhead + '%':>9} "
      f"{float(rate):>12.1f} {100 * stats['median_cv']:>9.1f}% {stats['remeasured']:>12}")
PY
done
