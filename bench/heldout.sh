#!/usr/bin/env bash
# Held-out latency accuracy for one runtime and thread count:
#   1. `profile` with the default kernel space (no --models: it reads no model file);
#   2. `validate` (3 rounds of fresh sessions, median) on every model it never saw: the 12
#      default torchvision exports, the 28-architecture zoo (bench/zoo.txt) and the 5 MediaPipe
#      models;
#   3. bench/heldout_table.py: summary, per-family table, per-model table (markdown).
# Usage: bench/heldout.sh RUNTIME THREADS [BUDGET]      e.g. bench/heldout.sh xnnpack 1 15m
# Outputs $OUT/RUNTIME-THREADSt.{bundle,bundle.db,profile.log,json,md} (OUT defaults to
# .cache/heldout). An existing bundle is reused (delete it to profile again; the .db resumes an
# interrupted profile). PROFILE_ARGS adds options to `profile` (e.g. PROFILE_ARGS="--network-share 0.15").
# validate runs with --per-kernel: each model's kernels are also compared
# with their in-model times (a profiled run in each round, the median of the rounds).
set -euo pipefail
cd "$(dirname "$0")/.."
runtime=${1:?runtime}
threads=${2:?threads}
budget=${3:-15m}
out=${OUT:-.cache/heldout}
mkdir -p "$out"
scripts/fetch_mediapipe.sh >/dev/null
scripts/fetch_torchvision.sh >/dev/null
scripts/fetch_torchvision.sh --zoo >/dev/null
base="$out/$runtime-${threads}t"
if [[ ! -s "$base.bundle" ]]; then
  # shellcheck disable=SC2086
  build/infercast profile --runtime "$runtime" --threads "$threads" --budget "$budget" -o "$base.bundle" ${PROFILE_ARGS:-} \
    2> >(tee "$base.profile.log" >&2)
fi
build/infercast validate --predictor "$base.bundle" --runtime "$runtime" --rounds 3 --per-kernel --format json -o "$base.json" \
  .cache/models/torchvision .cache/models/zoo .cache/models/mediapipe
bench/heldout_table.py "$base.json" | tee "$base.md"
