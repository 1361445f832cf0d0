#!/usr/bin/env bash
# make test-newcomer: `make run` works from a clone in a folder only root can enter (mode 0700,
# like root's home), where the postgres OS user cannot reach target/.
#
#   newcomer-test.sh PG_CONFIG    (the tests' PostgreSQL: the demo is installed there, never
#                                  into the system's)
#
# Copies the working tree (what a clone of it holds) into a fresh 0700 folder, runs `make run`
# there on ports of its own, and checks that the demo answers, that its data lives where the
# postgres user can reach it, and that `make stop` stops it. The build reuses this clone's
# target/ for the dependencies (CARGO_TARGET_DIR), so only pgrest itself is compiled again.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_config=${1:?usage: newcomer-test.sh PG_CONFIG}
http_port=3096
pg_port=54369
home=$(mktemp -d)          # mode 0700
clone="$home/pgrest"
mkdir "$clone"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$clone"
[ "$(stat -c %a "$home")" = 700 ] || { echo "newcomer-test: $home is not 0700" >&2; exit 1; }

state=$("$clone/.ci/state-dir.sh")
cleanup() {
  (cd "$clone" && make -s stop HTTP_PORT=$http_port DEMO_PG_PORT=$pg_port) >/dev/null 2>&1 || true
  rm -rf "$home"
  case "$state" in /var/tmp/pgrest-*) rm -rf "$state" ;; esac
}
trap cleanup EXIT
fail() {
  echo "newcomer-test: $*" >&2
  tail -20 "$state"/pgrest-demo/server.log >&2 2>/dev/null || true
  exit 1
}

if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
  case "$state" in
    /var/tmp/pgrest-*) ;;
    *) fail "state folder $state: expected one under /var/tmp for a clone postgres cannot reach" ;;
  esac
fi

(
  cd "$clone"
  PG_CONFIG="$pg_config" CARGO_TARGET_DIR="$OLDPWD/target" \
    make run PROFILE=dev HTTP_PORT=$http_port DEMO_PG_PORT=$pg_port
) >"$home/make-run.log" 2>&1 || { tail -40 "$home/make-run.log" >&2; fail "make run failed"; }

body=$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$http_port/todos?select=id,task&order=id&limit=1")
[ "${body##*$'\n'}" = 200 ] || fail "GET /todos answered ${body##*$'\n'}: ${body%$'\n'*}"
echo "${body%$'\n'*}" | grep -q '"task"' || fail "GET /todos: ${body%$'\n'*}"
[ -f "$state/pgrest-demo/PG_VERSION" ] || fail "the demo cluster is not in $state/pgrest-demo"
[ ! -e "$clone/target/pgrest-demo" ] || [ "$state" = "$clone/target" ] ||
  fail "the demo cluster was made inside the private clone"

(cd "$clone" && make -s stop HTTP_PORT=$http_port DEMO_PG_PORT=$pg_port) >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/todos" || true)
[ "$code" = 000 ] || fail "still answering ($code) after make stop"
echo "newcomer-test: make run from a 0700 clone ($clone) served the demo; data in $state"
