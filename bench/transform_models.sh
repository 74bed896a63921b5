#!/usr/bin/env bash
# fold-bn, fold-pad, cleanup and fp16 on every torchvision model in .cache/models/torchvision
# and the five MediaPipe models, each result verified against the original on XNNPACK
# and ONNX Runtime (same seeded inputs; the scaled verdict of `verify`, max |got - want|
# <= 1e-2 * max |want| per output: fp16 rounds weights to 11 significant bits, and the
# default 1e-3 is the bound for float32 summation-order differences), printed as one
# Markdown table (docs/results.md). A model the XNNPACK runtime cannot run at all (the
# original) is verified on ONNX Runtime alone, and the table says why.
#
#   bench/transform_models.sh [BUILD_DIR] [OUT_DIR]
set -uo pipefail
build=${1:-build}
out=${2:-$(mktemp -d)}
mkdir -p "$out"
for model in .cache/models/torchvision/*.onnx .cache/models/mediapipe/*.tflite; do
  name=$(basename "$model")
  ext=${name##*.}
  run() {
    "$build/infercast" transform "$model" --pass fold-bn --pass fold-pad --pass cleanup --pass fp16 \
      -o "$out/${name%.*}.out.$ext" --verify "$1" --tolerance 1e-2 --format json \
      > "$out/${name%.*}.json" 2> "$out/${name%.*}.err"
  }
  run xnnpack,ort
  status=$?
  if [ $status = 2 ] && grep -q "prevent running on XNNPACK" "$out/${name%.*}.err"; then
    cut -c1-160 "$out/${name%.*}.err" > "$out/${name%.*}.xnnpack"
    run ort
    status=$?
  fi
  echo "$name: exit $status" >&2
done
/usr/bin/python3 - "$out" <<'PY'
import glob, json, os, sys
def mib(b): return f"{b / 2**20:.2f}"
rows = []
print("| model | nodes | params | weights MiB | MACs (M) | peak act. MiB | rewrites bn/pad/cleanup/fp16 | XNNPACK max rel err | ORT max rel err | XNNPACK ms | ORT ms |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    name = os.path.basename(path)[:-5]
    try:
        d = json.load(open(path))
    except Exception:
        err = open(path[:-5] + ".err").read().strip().splitlines()
        msg = (err[-1] if err else '?').replace('infercast: error: ', '')
        print(f"| {name} | not written: {msg[:150]}... |||||||||| ")
        continue
    t = d["total"]
    rw = "/".join(str(p["rewrites"]) for p in d["passes"])
    v = {c["runtime"]: c for c in d["verify"]}
    def verdict(r):
        c = v.get(r)
        note = path[:-5] + "." + r
        if not c and os.path.exists(note): return "cannot run the original"
        if not c: return "—"
        return ("pass " if c["pass"] else "FAIL ") + f"{c['max_rel_error']:.1e}"
    def lat(r):
        c = v.get(r)
        if not c or not c["latency_ms"]: return "—"
        return f"{c['latency_ms']['before']:.1f} → {c['latency_ms']['after']:.1f}"
    print(f"| {name} | {t['nodes'][0]} → {t['nodes'][1]} | {t['params'][0]:,} | {mib(t['weight_bytes'][0])} → {mib(t['weight_bytes'][1])} "
          f"| {t['macs'][0]/1e6:.1f} → {t['macs'][1]/1e6:.1f} | {mib(t['peak_activation_bytes'][0])} → {mib(t['peak_activation_bytes'][1])} "
          f"| {rw} | {verdict('xnnpack')} | {verdict('ort')} | {lat('xnnpack')} | {lat('ort')} |")
PY
