#!/bin/sh
# A stand-in for `benchmark_model` on a device, for process handling only (timeouts,
# crashes, failures, how the model path arrives). It checks that --graph names a
# TFLite file, records its arguments, then behaves as --mode says. Parsing is tested on
# real output formats in benchmark_model_parser_test.cpp, never through this script.
#   benchmark_model.sh --graph=PATH [--record FILE] [--mode ok|crash|hang|fail|garbage] [--output FILE]
graph=""; record=""; mode="ok"; output=""
while [ $# -gt 0 ]; do
  case "$1" in
    --graph=*) graph="${1#--graph=}" ;;
    --record) shift; record="$1" ;;
    --mode) shift; mode="$1" ;;
    --output) shift; output="$1" ;;
    *) ;;
  esac
  shift
done
if [ -n "$record" ]; then printf '%s\n' "$graph" > "$record"; fi
if [ ! -f "$graph" ] || [ "$(dd if="$graph" bs=1 skip=4 count=4 2>/dev/null)" != "TFL3" ]; then
  echo "ERROR: Could not open '$graph'." >&2
  exit 1
fi
case "$mode" in
  ok) cat "$output" ;;
  crash) echo "INFO: STARTING!"; echo "Fatal signal 11 (SIGSEGV), code 1 (SEGV_MAPERR)" >&2; kill -SEGV $$ ;;
  hang) sleep 300 & echo $! > "$record.child"; sleep 300 ;;
  fail) echo "INFO: STARTING!"; echo "ERROR: Failed to apply GPU delegate." >&2; echo "ERROR: Benchmarking failed." >&2; exit 1 ;;
  garbage) printf 'INFO: STARTING!\n\001\002\003\n' ;;
esac
