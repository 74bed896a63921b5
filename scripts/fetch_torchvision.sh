#!/usr/bin/env bash
# Export torchvision models (random weights, opset 13) to .cache/models/torchvision/.
# Usage: scripts/fetch_torchvision.sh [NAME ...]         (default: the standard set)
#        scripts/fetch_torchvision.sh --zoo [NAME ...]   (default: every model in bench/zoo.txt)
# --zoo exports the held-out validation zoo into .cache/models/zoo/ with its
# constant tensors randomized (see export_torchvision.py).
# A no-op when every requested file already exists.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
out_dir="$repo_root/.cache/models/torchvision"
python=/usr/bin/python3

default_models=(resnet18 resnet50 mobilenet_v2 mobilenet_v3_large mobilenet_v3_small
                squeezenet1_1 densenet121 googlenet alexnet vit_b_16 efficientnet_b0 vgg11)

export_args=()
if [[ "${1:-}" == --zoo ]]; then
  shift
  out_dir="$repo_root/.cache/models/zoo"
  export_args=(--zoo)
  mapfile -t default_models < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$repo_root/bench/zoo.txt")
fi

if [[ $# -gt 0 ]]; then
  models=("$@")
else
  models=("${default_models[@]}")
fi

missing=()
for m in "${models[@]}"; do
  [[ -f "$out_dir/$m.onnx" ]] || missing+=("$m")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "fetch_torchvision: all ${#models[@]} models present in $out_dir"
  exit 0
fi

exec "$python" "$script_dir/export_torchvision.py" "${export_args[@]}" --out "$out_dir" "${missing[@]}"
