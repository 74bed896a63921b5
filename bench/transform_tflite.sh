#!/usr/bin/env bash
# transform's TFLite paths, each result verified against the original (docs/results.md):
#  1. torchvision AlexNet (ONNX), tile-matmul=64 then fp16, written as TFLite: XNNPACK;
#  2. the TFLite export of AlexNet, its FULLY_CONNECTED layers tiled (tile-matmul=64): XNNPACK;
#  3. ResNet-18 and MobileNetV2 (ONNX), fp16 written as TFLite: XNNPACK;
#  4. Arm NN 20.08 on the files of 1-3: its parser has no BATCH_MATMUL or ADD_N and takes conv weights only
#     from buffers (not from a DEQUANTIZE), so it refuses them; the one-line refusal is printed.
# Per run: the JSON report (OUT_DIR/*.json) and one summary line.
#
#   bench/transform_tflite.sh [BUILD_DIR] [OUT_DIR]
set -uo pipefail
build=${1:-build}
out=${2:-$(mktemp -d)}
mkdir -p "$out"
cli="$build/infercast"
tv=.cache/models/torchvision

summary() {  # NAME: nodes, weights and each runtime's verdict from OUT_DIR/NAME.json
  /usr/bin/python3 - "$out/$1.json" "$1" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"{sys.argv[2]}: no report ({e})"); sys.exit()
t = d["total"]
checks = "; ".join(f"{c['runtime']} {'pass' if c['pass'] else 'FAIL'} ({c['rule']}) max rel {c['max_rel_error']:.1e}"
                   f" max abs {c['max_abs_error']:.1e}"
                   + (f", {c['latency_ms']['before']:.1f} -> {c['latency_ms']['after']:.1f} ms" if c.get('latency_ms') else "")
                   for c in d["verify"])
layers = d.get("tiled_layers") or []
tiled = "; ".join(f"{l['node']} {l['m']}x{l['k']}x{l['n']} nodes {l['nodes_in_result']}/{l['nodes_closed_form']}"
                  f" MACs {l['tile_macs_in_result']}/{l['padded_tile_macs']}" for l in layers)
print(f"{sys.argv[2]}: nodes {t['nodes'][0]} -> {t['nodes'][1]}, weights {t['weight_bytes'][0]/2**20:.2f} -> "
      f"{t['weight_bytes'][1]/2**20:.2f} MiB, MACs {t['macs'][0]/1e6:.1f} -> {t['macs'][1]/1e6:.1f} M | {checks}"
      + (f" | {tiled}" if tiled else ""))
PY
}

run() {  # NAME ARGS...: transform with a JSON report
  local name=$1
  shift
  /usr/bin/time -f "$name: %e s wall, %U s user" "$cli" transform "$@" --format json > "$out/$name.json" 2> "$out/$name.err"
  echo "$name: exit $?  $(tail -n 2 "$out/$name.err" | tr '\n' ' ')"
  summary "$name"
}

run alexnet_tiled_fp16 "$tv/alexnet.onnx" --pass tile-matmul=64 --pass fp16 -o "$out/alexnet_tiled_fp16.tflite" \
  --verify xnnpack
"$cli" export "$tv/alexnet.onnx" --to tflite -o "$out/alexnet.tflite" > /dev/null
run alexnet_fc_tiled "$out/alexnet.tflite" --pass tile-matmul=64 -o "$out/alexnet_fc_tiled.tflite" --verify xnnpack
for m in resnet18 mobilenet_v2; do
  run "${m}_fp16" "$tv/$m.onnx" --pass fp16 -o "$out/${m}_fp16.tflite" --verify xnnpack
done
for f in alexnet_tiled_fp16 alexnet_fc_tiled resnet18_fp16; do
  echo "armnn on $f.tflite: $("$cli" verify "$out/$f.tflite" --runtime armnn --reference xnnpack 2>&1 | tail -n 1 |
    cut -c1-300)"
done
