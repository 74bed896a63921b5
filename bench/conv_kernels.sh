#!/usr/bin/env bash
# Where XNNPACK's gap to ONNX Runtime comes from, one convolution at a time.
# For each convolution of resnet18 (and a few others), three timings side by side in
# one run, interleaved round by round so that machine load hits all three alike:
#   direct    the convolution through XNNPACK's operator API, no infercast code
#             (bench/xnnpack_direct_conv.cpp, linked against the same libXNNPACK)
#   xnnpack   `infercast run` of a one-Conv ONNX model on the in-process runtime
#   ort       the same model on ONNX Runtime (the Node runner)
# xnnpack/direct is infercast's engine overhead on that kernel; direct/ort is the
# XNNPACK build's kernel against ONNX Runtime's (MLAS). Medians of the per-run
# medians over ROUNDS rounds, in ms.
# Usage: bench/conv_kernels.sh [--threads N] [--rounds R]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="$root/build/infercast"
out="$root/build/bench/conv_kernels"
threads=1
rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    *) echo "conv_kernels: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -x "$cli" ]] || { echo "conv_kernels: $cli not built" >&2; exit 2; }
mkdir -p "$out"
direct="$out/xnnpack_direct_conv"
if [[ ! -x "$direct" || "$root/bench/xnnpack_direct_conv.cpp" -nt "$direct" ]]; then
  ${CXX:-c++} -O2 -DNDEBUG -std=c++20 "$root/bench/xnnpack_direct_conv.cpp" -o "$direct" -lXNNPACK -lpthreadpool
fi

# name N C H W K R S stride pad
shapes=(
  "stem7x7 1 3 224 224 64 7 7 2 3"
  "l1_3x3 1 64 56 56 64 3 3 1 1"
  "l2_3x3 1 128 28 28 128 3 3 1 1"
  "l3_3x3 1 256 14 14 256 3 3 1 1"
  "l4_3x3 1 512 7 7 512 3 3 1 1"
  "pw_1x1 1 256 56 56 64 1 1 1 0"
)
for s in "${shapes[@]}"; do
  read -r name n c h w k r sz stride pad <<<"$s"
  /usr/bin/python3 - "$out/$name.onnx" "$n" "$c" "$h" "$w" "$k" "$r" "$sz" "$stride" "$pad" <<'PY'
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
path, n, c, h, w, k, r, s, stride, pad = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(42)
wt = numpy_helper.from_array(rng.uniform(-1, 1, (k, c, r, s)).astype(np.float32), "w")
b = numpy_helper.from_array(rng.uniform(-1, 1, (k,)).astype(np.float32), "b")
node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[r, s], strides=[stride] * 2, pads=[pad] * 4)
oh, ow = (h + 2 * pad - r) // stride + 1, (w + 2 * pad - s) // stride + 1
g = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, c, h, w])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, k, oh, ow])], [wt, b])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
PY
done

median_of() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["latency_ms"]["median"])' "$1"; }
: >"$out/rows.txt"
for ((round = 1; round <= rounds; ++round)); do
  for s in "${shapes[@]}"; do
    read -r name n c h w k r sz stride pad <<<"$s"
    d=$("$direct" "$n" "$c" "$h" "$w" "$k" "$r" "$sz" "$stride" "$pad" "$threads" 200 |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')
    "$cli" run "$out/$name.onnx" --runtime xnnpack --threads "$threads" --format json -o "$out/x.json" --min-time 0.5
    "$cli" run "$out/$name.onnx" --runtime ort --threads "$threads" --format json -o "$out/o.json" --min-time 0.5
    echo "$name $d $(median_of "$out/x.json") $(median_of "$out/o.json")" >>"$out/rows.txt"
  done
done
/usr/bin/python3 - "$out/rows.txt" "$threads" "$rounds" <<'PY'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    name, *v = line.split()
    rows[name].append(list(map(float, v)))
print(f"threads={sys.argv[2]}, median over {sys.argv[3]} rounds, ms")
print(f"{'conv':10} {'direct':>8} {'xnnpack':>8} {'ort':>8} {'xnn/direct':>11} {'direct/ort':>11} {'xnn/ort':>8}")
for name, v in rows.items():
    d, x, o = (statistics.median(col) for col in zip(*v))
    print(f"{name:10} {d:8.3f} {x:8.3f} {o:8.3f} {x / d:11.2f} {d / o:11.2f} {x / o:8.2f}")
PY
