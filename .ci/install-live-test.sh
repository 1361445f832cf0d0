#!/usr/bin/env bash
# make test-install: installing pgrest over a running, busy server never crashes it.
#
#   install-live-test.sh PG_CONFIG    (the tests' PostgreSQL, with pgrest installed)
#
# Copies that PostgreSQL into a folder of its own, starts a cluster from the copy with pgrest
# serving, keeps it busy (HTTP requests and new SQL sessions, each a backend forked from the
# postmaster that runs pgrest's hooks), and installs other bytes in place of pgrest.so with
# the placing step every install path uses (install.sh --place). The new library is garbage
# on purpose: if any running process saw a single page of it, it would die.
# Passes when the log has no crash, the checkpointer is the same process (no crash restart),
# requests and sessions are still served, and the file on disk is the new one.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_config=${1:?usage: install-live-test.sh PG_CONFIG}
state=$(.ci/state-dir.sh)
work="$state/install-live"
pg_port=54359
http_port=3097

prefix=$(cd "$("$pg_config" --bindir)/.." && pwd)
copy="$work/postgresql"
data="$work/data"
.ci/cluster.sh stop "$data"
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"
cp -a "$prefix" "$copy"
export PG_CONFIG="$copy/bin/pg_config"
lib="$("$PG_CONFIG" --pkglibdir)/pgrest.so"
[ -f "$lib" ] || { echo "install-live-test: pgrest is not installed in $prefix" >&2; exit 1; }

load=()
cleanup() {
  for p in "${load[@]}"; do kill "$p" 2>/dev/null || true; done
  .ci/cluster.sh stop "$data"
}
trap cleanup EXIT

.ci/cluster.sh start "$data" "$pg_port" "$http_port" "pgrest.workers=2"
.ci/cluster.sh psql "$data" "$pg_port" <sql/demo.sql >/dev/null
.ci/cluster.sh wait-http "$http_port" /todos
checkpointer() {
  .ci/cluster.sh psql "$data" "$pg_port" -At -c \
    "select pid from pg_stat_activity where backend_type = 'checkpointer'"
}
before=$(checkpointer)

# Busy: four HTTP clients and a stream of new sessions, until the end of the test.
for _ in 1 2 3 4; do
  (while :; do curl -s -o /dev/null "http://127.0.0.1:$http_port/todos?select=id,task,user:users(name)"; done) &
  load+=($!)
done
(while :; do .ci/cluster.sh psql "$data" "$pg_port" -At -c "select count(*) from api.todos" >/dev/null 2>&1; done) &
load+=($!)
sleep 1

pkg="$work/package"
mkdir -p "$pkg$(dirname "$lib")"
head -c "$(stat -c %s "$lib")" /dev/urandom >"$pkg$lib"
old_inode=$(stat -c %i "$lib")
.ci/install.sh --place "$pkg" >/dev/null
sleep 2

fail() {
  echo "install-live-test: $*" >&2
  tail -30 "$data/server.log" >&2
  exit 1
}
cmp -s "$pkg$lib" "$lib" || fail "the new library is not in place"
[ "$(stat -c %i "$lib")" != "$old_inode" ] || fail "the library was rewritten in place, not renamed"
! grep -q "terminated by signal" "$data/server.log" || fail "a server process crashed"
[ "$(checkpointer)" = "$before" ] || fail "the postmaster re-initialised (checkpointer $before is gone)"
for _ in $(seq 1 20); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/todos?id=eq.1")
  [ "$code" = 200 ] || fail "GET /todos answered $code after the install"
done
[ "$(.ci/cluster.sh psql "$data" "$pg_port" -At -c 'select count(*) from api.users')" -ge 1 ] ||
  fail "a new session failed after the install"
grep -q "pgrest.so (deleted)" "/proc/$(head -1 "$data/postmaster.pid")/maps" ||
  fail "the postmaster does not map the replaced library"
echo "install-live-test: installed over a busy server; no crash, checkpointer $before unchanged"
