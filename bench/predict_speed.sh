#!/usr/bin/env bash
# predict speed: builds bench/predict_speed.cpp against the libraries of build/ (the
# CLI's own link line, CLI objects swapped for the benchmark), runs it on a model, and
# runs the scikit-learn random-forest reference on the same kernel count.
#
# Usage: bench/predict_speed.sh BUNDLE [MODEL]   (MODEL default: resnet50.onnx, 160 kernels)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="$(realpath "$1")"
model="$(realpath "${2:-$repo/.cache/models/torchvision/resnet50.onnx}")"
build="$repo/build"
out="$build/bench_predict_speed"
libs="$(sed -e 's/^.* -o infercast //' "$build/CMakeFiles/infercast_cli.dir/link.txt")"
(cd "$build" && c++ -O2 -DNDEBUG -DFMT_SHARED -std=c++20 -I"$repo/include" "$repo/bench/predict_speed.cpp" -o "$out" \
  $libs -lbenchmark -lpthread)
INFERCAST_BUNDLE="$bundle" INFERCAST_MODEL="$model" "$out" --benchmark_min_time=1
kernels="$("$build/infercast" predict "$model" --predictor "$bundle" --format json |
  /usr/bin/python3 -c 'import json,sys; print(sum(1 for k in json.load(sys.stdin)["kernels"] if k["source"]!="removed"))')"
/usr/bin/python3 "$repo/bench/predict_sklearn_reference.py" --kernels "$kernels"
