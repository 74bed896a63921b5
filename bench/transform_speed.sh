#!/usr/bin/env bash
# Speed of `infercast transform --pass tile-matmul=64` on torchvision AlexNet and of
# `infercast analyze` on the ~14,800-node result, with analyze of the original in the
# same run as the yardstick (timings on a shared machine are noisy: compare ratios).
#
#   bench/transform_speed.sh [BUILD_DIR] [REPEATS]
#
# Prints, per repeat: the pass's own time (the report's passes[0].ms), the whole
# command's wall time (import, costs before and after, ONNX write of 244 MB of
# weights), and analyze's wall time on the original and on the result.
set -euo pipefail
build=${1:-build}
repeats=${2:-3}
model=.cache/models/torchvision/alexnet.onnx
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
now() { date +%s.%N; }
printf "%-4s %12s %14s %16s %16s %8s\n" run pass_ms transform_s analyze_orig_s analyze_tiled_s nodes
for i in $(seq "$repeats"); do
  t0=$(now)
  "$build/infercast" transform "$model" --pass tile-matmul=64 -o "$out/alexnet_tiled.onnx" --format json \
    > "$out/report.json"
  t1=$(now)
  "$build/infercast" analyze "$model" --format json > /dev/null
  t2=$(now)
  "$build/infercast" analyze "$out/alexnet_tiled.onnx" --format json > /dev/null
  t3=$(now)
  read -r pass_ms nodes < <(/usr/bin/python3 -c "
import json, sys
d = json.load(open('$out/report.json'))
print(round(d['passes'][0]['ms'], 1), d['total']['nodes'][1])")
  printf "%-4s %12s %14.3f %16.3f %16.3f %8s\n" "$i" "$pass_ms" "$(echo "$t1 - $t0" | bc)" \
    "$(echo "$t2 - $t1" | bc)" "$(echo "$t3 - $t2" | bc)" "$nodes"
done
