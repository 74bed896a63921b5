#!/usr/bin/env bash
# How much the runner protocol adds to each timed request over ONNX Runtime's own run
# time (target: <= 0.2 ms). Needs the runner's npm package (scripts/install_runners.sh)
# and the torchvision exports (scripts/fetch_torchvision.sh).
# Usage: bench/runner_overhead.sh [--threads N] [MODEL ...]
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
scripts/install_runners.sh
args=()
models=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --*) args+=("$1" "$2"); shift 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
if [[ ${#models[@]} -eq 0 ]]; then
  scripts/fetch_torchvision.sh squeezenet1_1 resnet18 >/dev/null
  models=(.cache/models/torchvision/squeezenet1_1.onnx .cache/models/torchvision/resnet18.onnx)
fi
exec /usr/bin/python3 bench/runner_overhead.py "${args[@]}" "${models[@]}"
