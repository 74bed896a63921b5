#!/usr/bin/env bash
# XNNPACK vs ONNX Runtime side by side, and XNNPACK's end-to-end median against the
# sum of its operators' medians (the run loop's overhead), on the same machine in
# one run. Usage: bench/runtimes.sh [--threads N] [MODEL ...]
# Default models: the torchvision exports of issue 3 and the five MediaPipe models
# (TFLite: XNNPACK only; ONNX Runtime runs ONNX files).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="$root/build/infercast"
threads=2
if [[ "${1:-}" == "--threads" ]]; then threads="$2"; shift 2; fi
models=("$@")
if [[ ${#models[@]} -eq 0 ]]; then
  names=(resnet18 resnet50 mobilenet_v2 mobilenet_v3_small squeezenet1_1 densenet121 googlenet efficientnet_b0)
  "$root/scripts/fetch_torchvision.sh" "${names[@]}" >/dev/null
  "$root/scripts/fetch_mediapipe.sh" >/dev/null
  for n in "${names[@]}"; do models+=("$root/.cache/models/torchvision/$n.onnx"); done
  for f in "$root"/.cache/models/mediapipe/*.tflite; do models+=("$f"); done
fi
out="$root/build/bench"
mkdir -p "$out"
for m in "${models[@]}"; do
  base="$(basename "$m")"
  "$cli" run "$m" --runtime xnnpack --threads "$threads" --per-layer --format json -o "$out/xnnpack_$base.json"
  if [[ "$m" == *.onnx ]]; then
    "$cli" run "$m" --runtime ort --threads "$threads" --format json -o "$out/ort_$base.json"
  fi
done
/usr/bin/python3 - "$out" "$threads" "${models[@]}" <<'PY'
import json, os, sys
out, threads, models = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"threads={threads}; medians in ms; CV in parentheses")
print(f"{'model':38} {'xnnpack':>14} {'ort':>14} {'xnn/ort':>8} {'sum of ops':>11} {'e2e/sum':>8}")
for m in models:
    base = os.path.basename(m)
    x = json.load(open(f"{out}/xnnpack_{base}.json"))
    xm, xc = x["latency_ms"]["median"], x["latency_ms"]["cv"]
    s = x.get("layers_median_sum_ms") or 0
    o = f"{out}/ort_{base}.json"
    if os.path.exists(o) and m.endswith(".onnx"):
        r = json.load(open(o))
        om, oc = r["latency_ms"]["median"], r["latency_ms"]["cv"]
        ort, ratio = f"{om:7.2f} ({oc:.0%})", f"{xm / om:8.2f}"
    else:
        ort, ratio = f"{'-':>14}", f"{'-':>8}"
    print(f"{base:38} {xm:7.2f} ({xc:.0%}) {ort:>14} {ratio} {s:11.2f} {xm / s if s else 0:8.3f}")
PY
