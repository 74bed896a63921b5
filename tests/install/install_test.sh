#!/usr/bin/env bash
# Install test: `cmake --install` infercast into a temporary prefix, build the
# separate project examples/consumer against it with find_package(infercast), run
# it on an ONNX conv test model and compare its params and MACs with values computed
# independently from the model file (tests/install/conv_reference.py).
#
# Usage: tests/install/install_test.sh [BUILD_DIR]
#   BUILD_DIR  an existing, configured infercast build tree to install from (it is
#              brought up to date first); without it, a fresh Release build is made
#              in the temporary directory.
# Env: KEEP_TMP=1 keeps the temporary directory for inspection.
# Exit 0 on success, 1 on a failed check, 77 (skip) when the test model is absent.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
model=/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx
jobs="$(nproc 2>/dev/null || echo 2)"

if [[ ! -f "$model" ]]; then
  echo "install_test: SKIP: $model not found (Debian package libonnx-testdata)"
  exit 77
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/infercast-install-test.XXXXXX")"
if [[ "${KEEP_TMP:-0}" == 1 ]]; then
  echo "install_test: keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
prefix="$tmp/prefix"

fail() {
  echo "install_test: FAIL: $*" >&2
  exit 1
}

# 1. A build tree to install from.
if [[ $# -ge 1 ]]; then
  build="$(cd "$1" && pwd)"
  [[ -f "$build/CMakeCache.txt" ]] || fail "$build is not a configured CMake build tree"
  # infercast_cli depends on every room library, so this brings all installed
  # targets up to date without building the tests.
  cmake --build "$build" --target infercast_cli -j "$jobs"
else
  build="$tmp/build"
  cmake -S "$repo_root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DINFERCAST_BUILD_TESTS=OFF
  cmake --build "$build" -j "$jobs"
fi

# 2. Install, and check the pieces a consumer needs are there.
cmake --install "$build" --prefix "$prefix"
config="$(find "$prefix" -name infercastConfig.cmake -print -quit)"
[[ -n "$config" ]] || fail "no infercastConfig.cmake under $prefix"
for f in include/infercast/import/import.hpp include/infercast/cost/cost.hpp \
         include/infercast/report/report.hpp include/infercast/ir/ops.def bin/infercast; do
  [[ -e "$prefix/$f" ]] || fail "$prefix/$f was not installed"
done
"$prefix/bin/infercast" --version

# 3. Build the consumer against the prefix only: no package registry, and the
#    source tree is not on any include path, so a missing installed header fails here.
cmake -S "$repo_root/examples/consumer" -B "$tmp/consumer" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
  -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON
cmake --build "$tmp/consumer" -j "$jobs"

# 4. Run it and compare with the independent reference.
output="$("$tmp/consumer/infercast_consumer" "$model")"
echo "consumer: $output"
# Expected: X 1x1x7x5, W 1x1x3x3, strides 2, pads 1 -> Y 1x1x4x3, so
# MACs = 4*3 outputs * 1 channel * 3*3 kernel = 108; W is a graph input, not a
# stored weight, so params = 0. conv_reference.py derives both from the file.
if /usr/bin/python3 -c 'import onnx' 2>/dev/null; then
  read -r expected_params expected_macs < <(/usr/bin/python3 "$script_dir/conv_reference.py" "$model")
else
  echo "install_test: python3 onnx not available; using the hand-derived values"
  expected_params=0
  expected_macs=108
fi
[[ "$output" == *"\"macs\":$expected_macs"[,}]* ]] || fail "expected \"macs\":$expected_macs in: $output"
[[ "$output" == *"\"params\":$expected_params"[,}]* ]] || fail "expected \"params\":$expected_params in: $output"
echo "install_test: PASS (params $expected_params, MACs $expected_macs)"
