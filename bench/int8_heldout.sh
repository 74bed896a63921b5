#!/usr/bin/env bash
# Held-out int8 latency accuracy for one runtime and thread count:
#   1. full-integer quantization (random calibration, `quantize --mode full`) of the default
#      torchvision exports and the MediaPipe models into .cache/int8/ (int8 TFLite in
#      tflite/, QDQ ONNX in onnx/; existing files are kept). A model quantize refuses is
#      listed with its reason (face_detection_full_range_sparse: sparse weights);
#   2. `profile --precision int8` (the int8 kernel space; it reads no model file);
#   3. `validate` (3 rounds of fresh sessions, median) on the int8 models in the runtime's
#      form: int8 TFLite on xnnpack, QDQ ONNX on ort; with the FLOPs-proportional and
#      conv-only baselines;
#   4. bench/heldout_table.py: summary, per-family table, per-model table (markdown).
# Usage: bench/int8_heldout.sh RUNTIME THREADS [BUDGET]      e.g. bench/int8_heldout.sh ort 1 15m
# Outputs $OUT/RUNTIME-THREADSt-int8.{bundle,bundle.db,profile.log,json,md}. An existing
# bundle is reused (delete it to profile again; the .db resumes an interrupted profile).
# CAL=random:N (default random:8) sets the calibration; OUT=DIR (default .cache/int8) the folder of
# the quantized models and the outputs (a new folder quantizes the models afresh).
set -euo pipefail
cd "$(dirname "$0")/.."
runtime=${1:?runtime}
threads=${2:?threads}
budget=${3:-15m}
BIN=${BIN:-build/infercast}
CAL=${CAL:-random:8}
out=${OUT:-.cache/int8}
mkdir -p "$out/tflite" "$out/onnx"
scripts/fetch_mediapipe.sh >/dev/null
scripts/fetch_torchvision.sh >/dev/null
models=()
for f in .cache/models/torchvision/*.onnx .cache/models/mediapipe/*.tflite; do models+=("$f"); done
for f in "${models[@]}"; do
  name=$(basename "${f%.*}")
  [[ -s "$out/tflite/${name}_int8.tflite" && -s "$out/onnx/${name}_int8.onnx" ]] && continue
  if ! "$BIN" quantize "$f" --mode full --calibration "$CAL" --samples 1 \
      -o "$out/tflite/${name}_int8.tflite" -o "$out/onnx/${name}_int8.onnx" > "$out/$name.quantize.log" 2>&1; then
    echo "int8_heldout: $name not quantized: $(tail -1 "$out/$name.quantize.log" | cut -c1-200)" >&2
  fi
done
base="$out/$runtime-${threads}t-int8"
if [[ ! -s "$base.bundle" ]]; then
  "$BIN" profile --precision int8 --runtime "$runtime" --threads "$threads" --budget "$budget" -o "$base.bundle" \
    2> >(tee "$base.profile.log" >&2)
fi
form=tflite
[[ "$runtime" == xnnpack ]] || form=onnx
"$BIN" validate --predictor "$base.bundle" --runtime "$runtime" --rounds 3 --per-kernel --format json -o "$base.json" "$out/$form"
bench/heldout_table.py "$base.json" | tee "$base.md"
