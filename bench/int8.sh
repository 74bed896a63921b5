#!/usr/bin/env bash
# int8 vs float for the torchvision exports and the MediaPipe models: full-integer
# quantization (random calibration), SQNR / top-1 agreement on random inputs, weight
# bytes ratio, and the int8 / fp32 latency ratio on XNNPACK measured in the same run.
# Usage: bench/int8.sh [OUT_DIR] (default .cache/int8); prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/infercast}
OUT=${1:-.cache/int8}
CAL=${CAL:-random:8}
SAMPLES=${SAMPLES:-100}
mkdir -p "$OUT"
# MODELS="path ..." measures only those files.
read -r -a models <<< "${MODELS:-}"
[ ${#models[@]} -gt 0 ] || for m in resnet18 resnet50 mobilenet_v2 mobilenet_v3_large mobilenet_v3_small squeezenet1_1 densenet121 googlenet \
         alexnet efficientnet_b0 vgg11 vit_b_16; do
  [ -f ".cache/models/torchvision/$m.onnx" ] && models+=(".cache/models/torchvision/$m.onnx")
done
[ -n "${MODELS:-}" ] || for f in .cache/models/mediapipe/*.tflite; do models+=("$f"); done
latency() {  # median ms of `run` on XNNPACK, 1 thread
  "$BIN" run "$1" --runtime xnnpack --threads 1 --warmup 2 --repeat 10 --min-time 1 --format json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["latency_ms"]["median"])'
}
echo "| model | int8 ops / float ops | SQNR dB (per output) | top-1 agreement | weight bytes int8/float | XNNPACK int8/fp32 latency |"
echo "|---|---|---|---|---|---|"
for f in "${models[@]}"; do
  name=$(basename "${f%.*}")
  log="$OUT/$name.log"
  if ! "$BIN" quantize "$f" --mode full --calibration "$CAL" --samples "$SAMPLES" -o "$OUT/${name}_int8.tflite" \
      > "$log" 2>&1; then
    echo "| $name | quantize failed: $(tail -1 "$log" | cut -c1-160) | | | | |"
    continue
  fi
  "$BIN" export "$f" --to tflite -o "$OUT/${name}_fp32.tflite" > /dev/null
  ops=$(sed -n 's/.*int8, \([0-9]*\) ops quantized, \([0-9]*\) left float.*/\1 \/ \2/p' "$log")
  sqnr=$(sed -n "s/^output '\([^']*\)'.*SQNR \([-0-9.inf]*\) dB.*/\2/p" "$log" | paste -sd' ' -)
  top1=$(sed -n 's/.*top-1 agreement \([0-9.]*%\).*/\1/p' "$log" | paste -sd' ' -)
  ratio=$(sed -n 's/.*(ratio \([0-9.]*\)).*/\1/p' "$log")
  t8=$(latency "$OUT/${name}_int8.tflite"); t32=$(latency "$OUT/${name}_fp32.tflite")
  lat=$(python3 -c "print(f'{$t8/$t32:.2f} ({$t8:.1f} / {$t32:.1f} ms)')")
  echo "| $name | $ops | $sqnr | ${top1:--} | $ratio | $lat |"
done
