#!/usr/bin/env bash
# Arm NN (its own TFLite parser, CpuRef kernels) against XNNPACK on every .tflite
# infercast writes for the test models, plus MediaPipe's own files: per file, the
# largest output error, or the operator Arm NN refuses (one line). Prints a Markdown
# table; the exported files go to OUT_DIR.
#
#   scripts/verify_armnn.sh [OUT_DIR]    (default: /tmp/infercast_armnn)
#   TORCHVISION="resnet18 googlenet" MEDIAPIPE=0 scripts/verify_armnn.sh    (a subset)
#   FILES="x_int8.tflite y.tflite" scripts/verify_armnn.sh                   (given files only)
#
# Needs a build with Arm NN (CMake found libarmnn-dev + libarmnntfliteparser-dev) and
# the models `make models` fetches. CpuRef is slow (reference kernels): the large
# torchvision models take minutes each.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cli="$root/build/infercast"
out=${1:-/tmp/infercast_armnn}
mkdir -p "$out"
models="$root/.cache/models"

# verify FILE LABEL: one table row.
verify() {
  local file=$1 label=$2 json="$out/$(basename "$1" .tflite).verify.json" err="$out/$(basename "$1" .tflite).err"
  local start end rc
  start=$(date +%s.%N)
  timeout 900 "$cli" verify "$file" --runtime armnn --reference xnnpack --threads 1 --format json >"$json" 2>"$err"
  rc=$?
  end=$(date +%s.%N)
  python3 - "$label" "$json" "$err" "$rc" "$start" "$end" <<'PY'
import json, sys
label, json_path, err_path, rc, start, end = sys.argv[1:]
seconds = float(end) - float(start)
if rc in ("0", "1"):
    doc = json.load(open(json_path))
    outs = doc["outputs"]
    worst_abs = max(o["max_abs_error"] for o in outs)
    worst_rel = max(o["max_rel_error"] for o in outs)
    result = "agree" if doc["pass"] else "DIFFER"
    print(f"| {label} | {result} | {worst_abs:.2e} | {worst_rel:.2e} | {seconds:.1f} |")
else:
    line = open(err_path).read().strip().splitlines()
    reason = line[-1] if line else f"exit code {rc}"
    reason = reason.split("runtime 'armnn': ", 1)[-1].replace("|", "/")
    print(f"| {label} | refused: {reason} | | | {seconds:.1f} |")
PY
}

echo "| file | Arm NN vs XNNPACK | max abs error | max error / output scale | verify s |"
echo "|---|---|---|---|---|"
# FILES="a.tflite b.tflite": just those files (bench/int8.sh passes the int8 and fp32
# files `quantize` and `export` wrote).
if [ -n "${FILES:-}" ]; then
  for f in $FILES; do verify "$f" "$(basename "$f" .tflite)"; done
  exit 0
fi
torchvision=${TORCHVISION:-squeezenet1_1 mobilenet_v3_small mobilenet_v2 mobilenet_v3_large efficientnet_b0 alexnet \
  resnet18 googlenet densenet121 resnet50 vgg11 vit_b_16}
for m in $torchvision; do
  onnx="$models/torchvision/$m.onnx"
  [ -f "$onnx" ] || continue
  if ! "$cli" export "$onnx" --to tflite -o "$out/$m.tflite" >/dev/null 2>"$out/$m.export.err"; then
    echo "| torchvision $m (export) | not written: $(tail -1 "$out/$m.export.err" | cut -c1-160 | tr '|' '/')... | | | |"
    continue
  fi
  verify "$out/$m.tflite" "torchvision $m (export)"
done
if [ -f "$models/torchvision/mobilenet_v2.onnx" ]; then
  "$cli" export "$models/torchvision/mobilenet_v2.onnx" --to tflite --fp16 -o "$out/mobilenet_v2_fp16.tflite" >/dev/null &&
    verify "$out/mobilenet_v2_fp16.tflite" "torchvision mobilenet_v2 (export --fp16)"
fi
[ "${MEDIAPIPE:-1}" = 1 ] || exit 0
for f in "$models"/mediapipe/*.tflite; do
  m=$(basename "$f" .tflite)
  verify "$f" "MediaPipe $m (original, float16 weights)"
  # Written back through ONNX (opset 14 keeps HardSwish): float32 weights, no DEQUANTIZE.
  "$cli" export "$f" --to onnx --opset 14 -o "$out/$m.onnx" >/dev/null &&
    "$cli" export "$out/$m.onnx" --to tflite -o "$out/${m}_fp32.tflite" >/dev/null &&
    verify "$out/${m}_fp32.tflite" "MediaPipe $m (export via ONNX, float32)"
done
