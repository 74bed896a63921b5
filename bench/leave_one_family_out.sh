#!/usr/bin/env bash
# Leave-one-family-out validation of a profile's predictor, on measurements taken before.
#
# Usage: bench/leave_one_family_out.sh DB PROFILE VALIDATE.json OUTDIR [FAMILY ...]
#
# Trains the bundle of PROFILE in DB once with every family (OUTDIR/all.bundle) and once
# without each family that has samples (OUTDIR/without-F.bundle: `train --exclude-family F`,
# whose kernels of F then get the fallback roofline fitted to the other families), then
# bench/lofo_table.py predicts every model of VALIDATE.json (a `validate --per-kernel
# --format json` file: each model's measured latency and each kernel's measured in-model
# time) with each bundle and writes the table (OUTDIR/lofo.md, OUTDIR/lofo.json).
# Nothing is timed: the measurements are VALIDATE.json's. FAMILY ... restricts the
# families left out. A bundle already in OUTDIR is reused (delete OUTDIR to retrain).
# INFERCAST_CLI names the CLI (default build/infercast); TRAIN_ARGS adds options to every
# `train` (e.g. TRAIN_ARGS="--cache-bytes 50331648" for a profile stored before profile
# measured the cache).
set -euo pipefail

if [[ $# -lt 4 ]]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
cli=${INFERCAST_CLI:-$root/build/infercast}
db=$1 profile=$2 measured=$3 out=$4
shift 4
for f in "$db" "$measured"; do
  [[ -f $f ]] || { echo "leave_one_family_out: $f: no such file" >&2; exit 2; }
done
[[ -x $cli ]] || { echo "leave_one_family_out: $cli: not an executable (set INFERCAST_CLI)" >&2; exit 2; }
mkdir -p "$out"

train() {  # train NAME [--exclude-family F]
  local name=$1
  shift
  [[ -s $out/$name.bundle && -s $out/$name.train.json ]] && return 0
  # shellcheck disable=SC2086 # TRAIN_ARGS is a list of options
  "$cli" train --db "$db" --profile "$profile" -o "$out/$name.bundle" --format json ${TRAIN_ARGS:-} "$@" >"$out/$name.train.json.tmp"
  mv "$out/$name.train.json.tmp" "$out/$name.train.json"
}

echo "leave_one_family_out: training $profile with every family" >&2
train all
if [[ $# -gt 0 ]]; then
  families=("$@")
else
  mapfile -t families < <(python3 -c '
import json, sys
for name, f in sorted(json.load(open(sys.argv[1]))["families"].items()):
    if f["samples"] > 0:
        print(name)' "$out/all.train.json")
fi
for f in "${families[@]}"; do
  echo "leave_one_family_out: training without $f" >&2
  train "without-$f" --exclude-family "$f"
done
INFERCAST_CLI=$cli python3 "$root/bench/lofo_table.py" "$measured" "$out" "${families[@]}"
