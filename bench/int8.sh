#!/usr/bin/env bash
# int8 vs float for the torchvision exports and the MediaPipe models: full-integer
# quantization (random calibration) written as int8 TFLite and as QDQ ONNX from the same
# parameters, then per model
#   - SQNR / top-1 agreement against the float model on random inputs, on XNNPACK (int8
#     TFLite) and on ONNX Runtime (QDQ ONNX);
#   - XNNPACK ↔ ONNX Runtime agreement: the fraction of output elements within one
#     quantization step of each other (`quantize --check-runtime ort`), next to two
#     yardsticks: ONNX Runtime against itself with its graph optimizations off, and XNNPACK
#     against itself with one input element one step away;
#   - weight bytes ratio;
#   - the int8 / fp32 latency ratio on both runtimes, measured in the same run (fp32: the
#     TFLite form on XNNPACK, its ONNX export on ONNX Runtime).
# With ARMNN=1, a second table: Arm NN (its own TFLite parser, CpuRef kernels) against
# XNNPACK on the int8 and fp32 .tflite files (scripts/verify_armnn.sh FILES=...).
#
# Usage: bench/int8.sh [OUT_DIR] (default .cache/int8); prints markdown tables.
#   MODELS="path ..."  only those files;  SAMPLES=N (default 100)  CAL=random:N (default random:8)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/infercast}
OUT=${1:-.cache/int8}
CAL=${CAL:-random:8}
SAMPLES=${SAMPLES:-100}
mkdir -p "$OUT"
read -r -a models <<< "${MODELS:-}"
[ ${#models[@]} -gt 0 ] || for m in resnet18 resnet50 mobilenet_v2 mobilenet_v3_large mobilenet_v3_small squeezenet1_1 densenet121 googlenet \
         alexnet efficientnet_b0 vgg11 vit_b_16; do
  [ -f ".cache/models/torchvision/$m.onnx" ] && models+=(".cache/models/torchvision/$m.onnx")
done
[ -n "${MODELS:-}" ] || for f in .cache/models/mediapipe/*.tflite; do models+=("$f"); done
latency() {  # median ms of `run` on runtime $2, 1 thread
  "$BIN" run "$1" --runtime "$2" --threads 1 --warmup 2 --repeat 10 --min-time 1 --format json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["latency_ms"]["median"])' || echo nan
}
ratio() { python3 -c "a, b = float('$1'), float('$2'); print(f'{a/b:.2f} ({a:.1f} / {b:.1f} ms)')"; }
armnn_files=()
echo "| model | int8 ops / float ops | SQNR dB XNNPACK | SQNR dB ORT | top-1 agreement XNNPACK / ORT | within 1 step XNNPACK↔ORT (max steps) | ORT↔ORT unoptimized | XNNPACK, one input element 1 step away | weight bytes int8/float | XNNPACK int8/fp32 latency | ORT int8/fp32 latency |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for f in "${models[@]}"; do
  name=$(basename "${f%.*}")
  log="$OUT/$name.log"
  if ! "$BIN" quantize "$f" --mode full --calibration "$CAL" --samples "$SAMPLES" --check-runtime ort \
      -o "$OUT/${name}_int8.tflite" -o "$OUT/${name}_int8.onnx" > "$log" 2>&1; then
    echo "| $name | quantize failed: $(tail -1 "$log" | cut -c1-160 | tr '|' '/') | | | | | | | | | |"
    continue
  fi
  "$BIN" export "$f" --to tflite -o "$OUT/${name}_fp32.tflite" > /dev/null || true
  "$BIN" export "$OUT/${name}_fp32.tflite" --to onnx -o "$OUT/${name}_fp32.onnx" > /dev/null || true
  armnn_files+=("$OUT/${name}_int8.tflite" "$OUT/${name}_fp32.tflite")
  ops=$(sed -n 's/.*int8, \([0-9]*\) ops quantized, \([0-9]*\) left float.*/\1 \/ \2/p' "$log")
  sqnr=$(sed -n "s/^output '\([^']*\)'.*SQNR \([-0-9.inf]*\) dB.*/\2/p" "$log" | paste -sd' ' -)
  sqnr_ort=$(sed -n "s/^ort (QDQ ONNX) output .*SQNR \([-0-9.inf]*\) dB.*/\1/p" "$log" | paste -sd' ' -)
  top1=$(sed -n "s/^output .*top-1 agreement \([0-9.]*%\).*/\1/p" "$log" | paste -sd' ' -)
  top1_ort=$(sed -n "s/^ort (QDQ ONNX) .*top-1 agreement \([0-9.]*%\).*/\1/p" "$log" | paste -sd' ' -)
  within=$(sed -n "s/^ort (QDQ ONNX) .* \([0-9.]*%\) of elements within 1 quantization step, max \([0-9.]*\) steps.*/\1 (\2)/p" \
    "$log" | paste -sd' ' -)
  self=$(sed -n "s/^ort (QDQ ONNX) .* vs itself unoptimized: \([0-9.]*%\), max \([0-9.]*\) steps.*/\1 (\2)/p" "$log" | paste -sd' ' -)
  floor=$(sed -n "s/^ort (QDQ ONNX) .* 1 step away: \([0-9.]*%\), max \([0-9.]*\) steps.*/\1 (\2)/p" "$log" | paste -sd' ' -)
  wratio=$(sed -n 's/.*(ratio \([0-9.]*\)).*/\1/p' "$log")
  x8=$(latency "$OUT/${name}_int8.tflite" xnnpack); x32=$(latency "$OUT/${name}_fp32.tflite" xnnpack)
  o8=$(latency "$OUT/${name}_int8.onnx" ort); o32=$(latency "$OUT/${name}_fp32.onnx" ort)
  echo "| $name | $ops | $sqnr | $sqnr_ort | ${top1:--} / ${top1_ort:--} | $within | ${self:--} | ${floor:--} | $wratio | $(ratio "$x8" "$x32") | $(ratio "$o8" "$o32") |"
done
if [ "${ARMNN:-0}" = 1 ] && [ ${#armnn_files[@]} -gt 0 ]; then
  echo
  FILES="${armnn_files[*]}" scripts/verify_armnn.sh "$OUT/armnn"
fi
