#!/usr/bin/env bash
# Speed of `infercast transform --pass tile-matmul=64` on torchvision AlexNet and of
# `infercast analyze` on the ~14,800-node result, with analyze of the original in the
# same run as the yardstick. Wall time on a shared machine mostly measures the other
# tenants, so each command's CPU time (user + system, /usr/bin/time) is printed too.
#
#   bench/transform_speed.sh [BUILD_DIR] [REPEATS]
#
# Per repeat: the pass's own wall time (the report's passes[0].ms); the transform
# command (import, costs before and after, ONNX write of 244 MB of weights) and
# analyze of the original and of the result, each as wall / CPU seconds.
set -euo pipefail
build=${1:-build}
repeats=${2:-3}
model=.cache/models/torchvision/alexnet.onnx
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
timed() {  # prints "wall/cpu" seconds of the command
  /usr/bin/time -f "%e %U %S" -o "$out/time" "$@" > /dev/null
  awk '{printf "%.2f/%.2f", $1, $2 + $3}' "$out/time"
}
printf "%-4s %8s %16s %16s %16s %7s\n" run pass_ms transform_s analyze_orig_s analyze_tiled_s nodes
for i in $(seq "$repeats"); do
  /usr/bin/time -f "%e %U %S" -o "$out/time" "$build/infercast" transform "$model" --pass tile-matmul=64 \
    -o "$out/alexnet_tiled.onnx" --format json > "$out/report.json"
  t=$(awk '{printf "%.2f/%.2f", $1, $2 + $3}' "$out/time")
  a=$(timed "$build/infercast" analyze "$model" --format json)
  b=$(timed "$build/infercast" analyze "$out/alexnet_tiled.onnx" --format json)
  read -r pass_ms nodes < <(/usr/bin/python3 -c "
import json
d = json.load(open('$out/report.json'))
print(round(d['passes'][0]['ms'], 1), d['total']['nodes'][1])")
  printf "%-4s %8s %16s %16s %16s %7s\n" "$i" "$pass_ms" "$t" "$a" "$b" "$nodes"
done
