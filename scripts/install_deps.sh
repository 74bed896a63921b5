#!/usr/bin/env bash
# Installs the Debian packages infercast needs to build, test and fetch its test
# models. Idempotent: does nothing (and touches no network) when all are present.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake clang clang-format clang-tidy libclang-rt-14-dev
  # libraries
  libonnx-dev libprotobuf-dev protobuf-compiler libflatbuffers-dev flatbuffers-compiler
  libcli11-dev nlohmann-json3-dev libfmt-dev libgtest-dev libbenchmark-dev libxnnpack-dev libpthreadpool-dev
  libsqlite3-dev sqlite3 libxgboost-dev
  # the store's PostgreSQL dialect (libpq), and the server its tests start (initdb, pg_ctl, psql)
  libpq-dev postgresql
  # reference data and models: ONNX backend tests, Python onnx + torchvision (exports), npm (MediaPipe)
  libonnx-testdata python3-onnx python3-numpy python3-torchvision nodejs npm
  # predictor reference (scikit-learn random forest, bench/)
  python3-sklearn
  # the Python module (python/), its tests and examples
  pybind11-dev python3-dev python3-pytest python3-pandas python3-torch
  # measuring
  hyperfine time
  # an independent TFLite reader (--runtime armnn; optional at build time): Arm NN, its parser, its CpuRef backend
  libarmnn-dev libarmnntfliteparser-dev libarmnn-cpuref-backend22
  # the HTML report's browser test (headless)
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm may come from outside Debian (e.g. a NodeSource or preinstalled node); accept any npm on PATH.
if command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == npm || "$p" == nodejs ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install_deps: installing ${missing[*]}" >&2
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
