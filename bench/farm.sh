#!/usr/bin/env bash
# The farm under fire: N bench workers measure one plan in a PostgreSQL database that this
# script starts itself (tests/store/pg_server.sh), through the benchmark_model command
# runtime with a device script that sleeps a fixed time per kernel (a stand-in for remote
# phones, docs/devices.md). Two parts:
#   scale:  the same plan with 1 worker, then with N: throughput ratio and the database's
#           own time per measurement (claim + write, from each worker's summary line)
#   chaos:  N workers; KILLS `kill -9` of random workers at random moments (0.2-1.8 x the
#           mean interval, 0.5 s by default; each killed worker replaced
#           by a fresh worker) and one restart of the server mid-run; then checks that the
#           plan drained to exactly its size: 0 lost, 0 duplicates.
# Usage: bench/farm.sh [--quick] [--workers N] [--kernels K] [--sleep S] [--kills N]
#                      [--lease S] [--no-scale] [--no-chaos]
# --quick (ctest): 8 workers, 400 kernels of 50 ms, 20 kills, chaos only. Exit 0 when every
# check passed, 1 otherwise, 77 when the PostgreSQL server binaries are absent.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cli=${INFERCAST_CLI:-$here/build/infercast}
workers=8 kernels=64 sleep_s=2 kills=20 lease=10 scale=1 chaos=1 fsync=fsync kill_every=0.3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) workers=8 kernels=400 sleep_s=0.05 kills=20 lease=2 scale=0 fsync=nofsync kill_every=0.12 ;;
    --workers) shift; workers=$1 ;;
    --kernels) shift; kernels=$1 ;;
    --sleep) shift; sleep_s=$1 ;;
    --kills) shift; kills=$1 ;;
    --lease) shift; lease=$1 ;;
    --no-scale) scale=0 ;;
    --no-chaos) chaos=0 ;;
    *) echo "farm.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ -x "$cli" ]] || { echo "farm.sh: $cli not built" >&2; exit 2; }
tmp=$(mktemp -d /tmp/infercast-farm.XXXXXX)
chmod 755 "$tmp"  # the server runs as nobody when this runs as root
server="$tmp/server"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  bash "$here/tests/store/pg_server.sh" stop "$server" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
set +e
bash "$here/tests/store/pg_server.sh" start "$server" "$fsync" > "$tmp/url" 2> "$tmp/server.err"
rc=$?
set -e
if [[ $rc -eq 77 ]]; then cat "$tmp/server.err"; exit 77; fi
[[ $rc -eq 0 ]] || { cat "$tmp/server.err" >&2; exit 1; }
psql_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)/psql

# The device: sleeps, then prints what benchmark_model prints (one timed layer).
cat > "$tmp/device.sh" <<DEVICE
#!/bin/sh
sleep $sleep_s
printf '%s\n' "INFO: count=20 first=1000 curr=1000 min=1000 max=1000 avg=1000 std=0" \\
  "INFO: Inference timings in us: Init: 100, First inference: 1000, Warmup (avg): 1000, Inference (avg): 1000" \\
  "INFO: Operator-wise Profiling Info for Regular Benchmark Runs:" \\
  "============================== Run Order ==============================" \\
  "	[node type]	[start]	[first]	[avg ms]	[%]	[cdf%]	[mem KB]	[times called]	[Name]" \\
  "	CONV_2D	0.000	1.000	1.000	100.000%	100.000%	0.000	1	[out]:0" \\
  "" "Timings (microseconds): count=20 first=1000 curr=1000 min=1000 max=1000 avg=1000 std=0" ""
DEVICE
chmod +x "$tmp/device.sh"

db_url() { bash "$here/tests/store/pg_server.sh" createdb "$server" "$1"; }
sql() { "$psql_bin" "$1" -tAc "$2"; }
# A worker in the background: a simple command, so $! is the bench process itself (what kill -9 hits).
worker() {  # worker URL LOG
  "$cli" bench --runtime benchmark_model --threads 1 --command "$tmp/device.sh {model}" --no-cold \
    --count "$kernels" --lease "$lease" --timeout 60 --db "$1" >> "$2" 2>&1 &
}
now() { date +%s.%N; }
calc() { awk "BEGIN {print $*}"; }

status=0
if [[ $scale -eq 1 ]]; then
  declare -A wall
  for n in 1 "$workers"; do
    url=$(db_url "scale$n")
    # The plan first (one worker with --count 0 measures nothing... so time from the
    # moment every worker is started; plan writing is part of the run).
    t0=$(now)
    pids=()
    for i in $(seq 1 "$n"); do worker "$url" "$tmp/scale$n.$i.log"; pids+=($!); done
    for p in "${pids[@]}"; do wait "$p" || status=1; done
    pids=()
    t1=$(now)
    wall[$n]=$(calc "$t1 - $t0")
    measured=$(sql "$url" "SELECT count(*) FROM measurements")
    failed=$(sql "$url" "SELECT count(*) FROM measurements WHERE error <> ''")
    db_ms=$(cat "$tmp"/scale$n.*.log | sed -n 's/.*db \([0-9.]*\) ms\/measurement.*/\1/p' |
      awk '{s += $1; c++} END {if (c) printf "%.2f", s / c}')
    printf 'scale: %d worker(s): %d/%d kernels measured (%d of them failed rows) in %.1f s = %.2f kernels/s; db %s ms/measurement (claim + write, mean over workers)\n' \
      "$n" "$measured" "$kernels" "$failed" "${wall[$n]}" "$(calc "$measured / ${wall[$n]}")" "$db_ms"
    [[ $measured -eq $kernels ]] || { echo "scale: FAILED: $measured of $kernels measured" >&2; status=1; }
  done
  printf 'scale: speed-up 1 -> %d workers: %.2fx\n' "$workers" "$(calc "${wall[1]} / ${wall[$workers]}")"
fi

if [[ $chaos -eq 1 ]]; then
  url=$(db_url chaos)
  declare -a slot
  start_worker() { worker "$url" "$tmp/chaos.$1.$(date +%s%N).log"; slot[$1]=$!; pids+=($!); }
  for i in $(seq 0 $((workers - 1))); do start_worker "$i"; done
  done_kills=0 restarted=0 t0=$(now)
  while [[ $done_kills -lt $kills ]]; do
    sleep "$(awk -v r=$RANDOM -v k="$kill_every" 'BEGIN {printf "%.3f", k * (0.2 + 1.6 * r / 32767)}')"
    i=$((RANDOM % workers))
    if kill -0 "${slot[$i]}" 2>/dev/null; then
      kill -9 "${slot[$i]}" 2>/dev/null && done_kills=$((done_kills + 1))
      wait "${slot[$i]}" 2>/dev/null || true
      if [[ $restarted -eq 0 && $done_kills -ge $((kills / 2)) ]]; then
        bash "$here/tests/store/pg_server.sh" restart "$server"  # fast shutdown: every client is cut off
        restarted=1
      fi
      start_worker "$i"
    fi
    # -1 until the first worker has written the plan
    left=$(sql "$url" "SELECT CASE WHEN count(*) = 0 THEN -1 ELSE SUM(CASE WHEN state <> 2 THEN 1 ELSE 0 END) END FROM plan_items" 2>/dev/null || echo "?")
    [[ "$left" == 0 ]] && break
  done
  # Drain: every worker exits once the plan has nothing left; a worker that died of an
  # error is reported (and one more worker finishes its leased kernel).
  errors=0
  for i in $(seq 0 $((workers - 1))); do wait "${slot[$i]}" || errors=$((errors + 1)); done
  if [[ $errors -gt 0 ]]; then worker "$url" "$tmp/chaos.final.log"; wait $! || true; fi
  pids=()
  t1=$(now)
  size=$(sql "$url" "SELECT count(*) FROM plan_items")
  open=$(sql "$url" "SELECT count(*) FROM plan_items WHERE state <> 2")
  rows=$(sql "$url" "SELECT count(*) FROM measurements")
  failed=$(sql "$url" "SELECT count(*) FROM measurements WHERE error <> ''")
  distinct=$(sql "$url" "SELECT count(DISTINCT kernel_id) FROM measurements")
  reclaimed=$(sql "$url" "SELECT COALESCE(SUM(claims - 1), 0) FROM plan_items")
  nworkers=$(sql "$url" "SELECT count(*) FROM workers")
  # A kernel printed as finished by two workers would be a duplicate measurement.
  dups=$(cat "$tmp"/chaos.*.log | sed -n 's/^bench \[[0-9]*\/[0-9]*\] \([^ ]*\) .*/\1/p' | sort | uniq -d | wc -l)
  lost=$((size - rows))
  printf 'chaos: %d workers (%d started in all), %d kill -9, %d server restart; %.1f s\n' "$workers" "$nworkers" \
    "$done_kills" "$restarted" "$(calc "$t1 - $t0")"
  printf 'chaos: plan %d kernels, %d measurements (%d failed), %d distinct; %d still open; lost %d, duplicates %d; %d kernels re-claimed after a kill; %d workers exited with an error\n' \
    "$size" "$rows" "$failed" "$distinct" "$open" "$lost" "$dups" "$reclaimed" "$errors"
  if [[ $size -ne $kernels || $rows -ne $kernels || $distinct -ne $kernels || $open -ne 0 || $dups -ne 0 ||
        $errors -ne 0 || $restarted -ne 1 || $done_kills -ne $kills ]]; then
    echo "chaos: FAILED" >&2
    cat "$tmp"/chaos.*.log | grep -E "error|FAILED" | sort | uniq -c | head -5 >&2 || true
    status=1
  fi
fi
exit $status
