#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests and benches: initdb + pg_ctl in a folder of its
# own, listening on 127.0.0.1 on a free port, password authentication (scram-sha-256) for
# the user "infercast". No system service is touched. As root, the server runs as `nobody`
# (initdb and postgres refuse to run as root).
#   pg_server.sh start DIR [fsync]   initdb + start; prints the URL of database "infercast"
#   pg_server.sh createdb DIR NAME   a new empty database; prints its URL
#   pg_server.sh restart DIR         stop (fast: clients are disconnected) and start again
#   pg_server.sh stop DIR            stop and remove DIR
# Exit 77 (the ctest skip code) when the server binaries are not installed.
set -euo pipefail
cmd=${1:?usage: pg_server.sh start|createdb|restart|stop DIR}
dir=${2:?usage: pg_server.sh start|createdb|restart|stop DIR}
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)}
if [[ -z "$bin" || ! -x "$bin/initdb" || ! -x "$bin/pg_ctl" ]]; then
  echo "pg_server: PostgreSQL server binaries (initdb, pg_ctl) not found; install the Debian package postgresql" >&2
  exit 77
fi
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u nobody -- "$@"; else "$@"; fi
}
password=infercast-test
url_of() { echo "postgresql://infercast:$password@127.0.0.1:$(cat "$dir/port")/$1"; }
pg_ctl_start() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $(cat "$dir/port") -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 $(cat "$dir/options")" \
    start >/dev/null
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown nobody "$dir"
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' > "$dir/port"
    if [[ "${3:-nofsync}" == fsync ]]; then echo "" > "$dir/options"; else echo "-c fsync=off" > "$dir/options"; fi
    printf '%s\n' "$password" > "$dir/pwfile"
    [[ $(id -u) -eq 0 ]] && chown nobody "$dir/pwfile" "$dir/port" "$dir/options"
    as_owner "$bin/initdb" -D "$dir/data" -U infercast --pwfile="$dir/pwfile" --auth=scram-sha-256 -E UTF8 \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    pg_ctl_start || { cat "$dir/server.log" >&2; exit 1; }
    PGPASSWORD=$password "$bin/createdb" -h 127.0.0.1 -p "$(cat "$dir/port")" -U infercast infercast
    url_of infercast
    ;;
  createdb)
    name=${3:?createdb needs a NAME}
    PGPASSWORD=$password "$bin/createdb" -h 127.0.0.1 -p "$(cat "$dir/port")" -U infercast "$name"
    url_of "$name"
    ;;
  restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    pg_ctl_start
    ;;
  stop)
    if [[ -d "$dir/data" ]]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *) echo "pg_server: unknown command $cmd" >&2; exit 2 ;;
esac
