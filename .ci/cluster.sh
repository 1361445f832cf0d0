#!/usr/bin/env bash
# A local PostgreSQL cluster with pgrest preloaded, for `make run` and `make bench`; the
# PostgreSQL is $PG_CONFIG's (default: Debian's 15).
#   cluster.sh start DIR PG_PORT HTTP_PORT [key=value ...]   initdb if needed, (re)configure, start
#   cluster.sh stop DIR                                       stop it if it runs
#   cluster.sh psql DIR PG_PORT [psql args...]               psql as the superuser
#   cluster.sh wait-http HTTP_PORT PATH                      wait until GET PATH answers 200
# PostgreSQL refuses to run as root: as root everything runs as the postgres OS user.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BIN=$("$PG_CONFIG" --bindir)

# A relocatable PostgreSQL (.ci/pg.sh) links its modules against the libpq of its own lib/.
[ -e "$BIN/../lib/libpq.so.5" ] && export LD_LIBRARY_PATH="$BIN/../lib"

# As root, from /: the postgres OS user may not be able to enter the current folder (a clone
# in root's 0700 home), so files go to its commands on standard input, never by path.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# A fast shutdown by signal, so any version's cluster stops whatever $PG_CONFIG says.
stop_cluster() {
  local pid
  pid=$(head -1 "$1/postmaster.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; then
    for _ in $(seq 1 600); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
    echo "cluster.sh: the server of $1 (pid $pid) did not stop" >&2
    return 1
  fi
}

cmd=${1:?usage: cluster.sh start|stop|psql|wait-http ...}
shift
case "$cmd" in
  start)
    dir=$(realpath -m "$1"); pg_port=$2; http_port=$3; shift 3
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"
      if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$(dirname "$dir")"; then
        echo "cluster.sh: the postgres OS user cannot reach $(dirname "$dir") (a parent folder" \
          "is private, e.g. root's 0700 home); use a folder it can reach," \
          "such as the one .ci/state-dir.sh prints" >&2
        exit 1
      fi
      [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
      chmod 700 "$dir"
      as_pg "$BIN/initdb" -D "$dir" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    stop_cluster "$dir"
    {
      echo "listen_addresses = ''"
      echo "unix_socket_directories = '$dir'"
      echo "port = $pg_port"
      echo "shared_preload_libraries = 'pgrest'"
      echo "pgrest.server_host = '127.0.0.1'"
      echo "pgrest.server_port = $http_port"
      echo "pgrest.database = 'postgres'"
      echo "pgrest.authenticator = 'authenticator'"
      echo "pgrest.db_schemas = 'api'"
      echo "pgrest.db_anon_role = 'web_anon'"
      echo "pgrest.jwt_secret = 'reallyreallyreallyreallyverysafe'"
      for kv in "$@"; do echo "${kv%%=*} = '${kv#*=}'"; done
    } | as_pg tee "$dir/pgrest.conf" >/dev/null
    grep -q "include_if_exists = 'pgrest.conf'" "$dir/postgresql.conf" ||
      echo "include_if_exists = 'pgrest.conf'" | as_pg tee -a "$dir/postgresql.conf" >/dev/null
    as_pg "$BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w start >/dev/null
    ;;
  stop)
    stop_cluster "$(realpath -m "$1")"
    ;;
  psql)
    dir=$(realpath -m "$1"); pg_port=$2; shift 2
    as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$pg_port" -U postgres -d postgres "$@"
    ;;
  wait-http)
    port=$1; path=$2
    for _ in $(seq 1 120); do
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$path" || true)
      [ "$code" = 200 ] && exit 0
      sleep 0.5
    done
    echo "pgrest did not answer on port $port" >&2
    exit 1
    ;;
  *)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac
