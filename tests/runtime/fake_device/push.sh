#!/bin/sh
# A stand-in for `adb push SRC DIR`, for process handling only: copies SRC into DIR, or
# fails the way adb does without a device (`push.sh SRC DIR fail`).
if [ "$3" = "fail" ]; then
  echo "adb: error: failed to get feature set: no devices/emulators found" >&2
  exit 1
fi
cp "$1" "$2/" && echo "$1: 1 file pushed, 0 skipped. 45.2 MB/s (229367 bytes in 0.005s)"
