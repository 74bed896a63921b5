#!/usr/bin/env bash
# Installs the npm packages of infercast's external runners (runners/*/package-lock.json)
# with `npm ci --ignore-scripts`: exact versions from the committed lockfile, and no
# install scripts (onnxruntime-node's postinstall downloads optional binaries and
# fails offline; the CPU library it needs ships inside the package).
# Idempotent: does nothing when node_modules matches the lockfile (a stamp records it).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"

case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch="$(uname -m)" ;;
esac

for lock in "$repo_root"/runners/*/package-lock.json; do
  dir="$(dirname "$lock")"
  name="$(basename "$dir")"
  stamp="$dir/node_modules/.infercast-install-stamp"
  want="$(cat "$dir/package.json" "$lock" | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    continue
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "install_runners: npm is missing (scripts/install_deps.sh installs it)" >&2
    exit 1
  fi
  echo "install_runners: npm ci --ignore-scripts in runners/$name" >&2
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  # The ONNX Runtime runner needs the CPU library from the package itself.
  if [[ "$name" == ort ]]; then
    lib="$dir/node_modules/onnxruntime-node/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
    if [[ ! -f "$lib" ]]; then
      echo "install_runners: $lib is missing: onnxruntime-node has no CPU build for linux/$arch" >&2
      exit 1
    fi
    (cd "$dir" && node -e "require('onnxruntime-node')") || {
      echo "install_runners: onnxruntime-node does not load in runners/ort" >&2
      exit 1
    }
  fi
  echo "$want" >"$stamp"
done
