#!/usr/bin/env bash
# Installs the JavaScript libraries of infercast's HTML report (chart.js, @dagrejs/dagre)
# and the headless-browser driver of its test (puppeteer-core) into
# src/report/html/node_modules with `npm ci --ignore-scripts`: exact versions from the
# committed lockfile, no install scripts (puppeteer-core downloads nothing; the test
# drives the system's chromium). CMake embeds the two libraries in build/infercast when
# they are present at configure time.
# Idempotent: does nothing when node_modules matches the lockfile (a stamp records it).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$(cd "$script_dir/../src/report/html" && pwd)"
stamp="$dir/node_modules/.infercast-install-stamp"
want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install_report_js: npm is missing (scripts/install_deps.sh installs it)" >&2
  exit 1
fi
echo "install_report_js: npm ci --ignore-scripts in src/report/html" >&2
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
for f in node_modules/chart.js/dist/chart.umd.js node_modules/@dagrejs/dagre/dist/dagre.min.js; do
  if [[ ! -f "$dir/$f" ]]; then
    echo "install_report_js: $dir/$f is missing after npm ci" >&2
    exit 1
  fi
done
echo "$want" >"$stamp"
