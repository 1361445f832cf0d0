#!/usr/bin/env bash
# make bench: GET /todos?id=eq.N (random N over 10k rows) through pgrest with wrk, and in the
# same run pgbench -M prepared at the same concurrency running
#   (a) the bare SQL statement pgrest generates for that request, and
#   (b) what an external-pool server (PostgREST) sends: BEGIN; set_config batch; query; COMMIT.
# Prints req/s, p99 latency, the ratios, and the RSS of each pgrest worker before and after.
# Then embedding: GET with a to-one embed and with a to-many embed (10k parents, 10 children
# each), each beside pgbench running the statement pgrest generates for it. Then writes and
# calls: POST of one row, POST of 1,000 rows in one request, POST /rpc/bench_add, each beside
# pgbench running the statement pgrest generates for it with the same body.
# Then the head-of-line figure: fast GETs (8 keep-alive connections) while one client loops
# over a 2 s read, p50/p99/max latency.
# Expects the release build to be installed (the Makefile does that).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${PGREST_STATE_DIR:-target}/pgrest-bench
PG_PORT=54339
HTTP_PORT=${BENCH_HTTP_PORT:-3099}
CLIENTS=${BENCH_CLIENTS:-16}
THREADS=${BENCH_THREADS:-2}
DURATION=${BENCH_SECONDS:-10}
WORKERS=${BENCH_WORKERS:-4}
ROWS=10000
CLUSTER=.ci/cluster.sh
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BIN=$("$PG_CONFIG" --bindir)
WORK=$(realpath -m "${PGREST_STATE_DIR:-target}/bench-work")
mkdir -p "$WORK"
chmod 777 "$WORK"

trap '$CLUSTER stop $DIR' EXIT
$CLUSTER start "$DIR" "$PG_PORT" "$HTTP_PORT" "pgrest.workers=$WORKERS" "max_connections=100" \
  "shared_buffers=256MB" "log_min_messages=warning"
psql() { $CLUSTER psql "$DIR" "$PG_PORT" "$@"; }
psql <sql/demo.sql >/dev/null
psql >/dev/null <<SQL
SET client_min_messages = warning;
TRUNCATE api.todos;
INSERT INTO api.todos (id, done, task, user_id)
SELECT g, g % 3 = 0, 'task number ' || g, CASE WHEN g % 2 = 0 THEN 1 ELSE 42 END
FROM generate_series(1, $ROWS) g;
SELECT setval('api.todos_id_seq', $ROWS);
VACUUM ANALYZE api.todos;
CREATE OR REPLACE VIEW api.bench_slow AS SELECT pg_sleep(2)::text AS slept;
DROP TABLE IF EXISTS api.bench_child, api.bench_parent;
CREATE TABLE api.bench_parent (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE api.bench_child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES api.bench_parent, note text);
CREATE INDEX ON api.bench_child (parent_id);
INSERT INTO api.bench_parent SELECT g, 'parent ' || g FROM generate_series(1, $ROWS) g;
INSERT INTO api.bench_child SELECT g, (g - 1) / 10 + 1, 'child ' || g FROM generate_series(1, $ROWS * 10) g;
VACUUM ANALYZE api.bench_parent, api.bench_child;
GRANT SELECT ON api.bench_parent, api.bench_child TO web_anon;
DROP TABLE IF EXISTS api.bench_write;
CREATE TABLE api.bench_write (id int, note text);
GRANT INSERT ON api.bench_write TO web_anon;
CREATE OR REPLACE FUNCTION api.bench_add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
GRANT EXECUTE ON FUNCTION api.bench_add(int, int) TO web_anon;
GRANT SELECT ON api.bench_slow TO web_anon;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_anon') THEN
    CREATE ROLE bench_anon LOGIN INHERIT IN ROLE web_anon;
  END IF;
END \$\$;
SQL
$CLUSTER wait-http "$HTTP_PORT" "/todos?id=eq.1"

# The statement pgrest runs for GET /todos?id=eq.N (see src/query/tests.rs).
QUERY='WITH pgrst_source AS (SELECT "api"."todos".* FROM "api"."todos" WHERE "api"."todos"."id" = :id::"pg_catalog"."int4") SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, NULL::text AS location, coalesce(json_agg(_postgrest_t), '"'"'[]'"'"') AS body, nullif(current_setting('"'"'response.headers'"'"', true), '"'"''"'"') AS response_headers, nullif(current_setting('"'"'response.status'"'"', true), '"'"''"'"') AS response_status FROM pgrst_source _postgrest_t;'
cat >"$WORK/bare.sql" <<EOF
\set id random(1, $ROWS)
$QUERY
EOF
cat >"$WORK/pooled.sql" <<EOF
\set id random(1, $ROWS)
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT set_config('search_path', '"api", "public"', true), set_config('role', 'web_anon', true), set_config('request.jwt.claims', '{"role":"web_anon"}', true), set_config('request.method', 'GET', true), set_config('request.path', '/todos', true), set_config('request.headers', '{"accept":"*/*","host":"127.0.0.1:$HTTP_PORT","user-agent":"wrk"}', true), set_config('request.cookies', '{}', true);
$QUERY
COMMIT;
EOF
cat >"$WORK/get.lua" <<EOF
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/todos?id=eq." .. math.random(1, $ROWS))
end
EOF

rss() {
  local pids
  pids=$(psql -At -c "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'pgrest'")
  for p in $pids; do
    printf '%s:%s ' "$p" "$(awk '/VmRSS/ {print $2 $3}' "/proc/$p/status")"
  done
}

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# pgbench run: prints "tps p99_ms"
pgbench_run() {
  local script=$1 user=$2 prefix=$WORK/log-$1
  rm -f "$prefix".*
  as_pg "$BIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -f "$WORK/$script.sql" \
    -l --log-prefix="$prefix" -h "$(realpath "$DIR")" -p "$PG_PORT" -U "$user" postgres >"$WORK/$script.out" 2>&1
  local tps p99
  tps=$(awk '/^tps = / {print $3}' "$WORK/$script.out" | head -1)
  p99=$(cat "$prefix".* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000}')
  echo "$tps $p99"
}

wrk_run() {
  wrk -t"$THREADS" -c"$CLIENTS" -d"${DURATION}s" --latency -s "$WORK/get.lua" "http://127.0.0.1:$HTTP_PORT" >"$WORK/wrk.out" 2>&1
  local rps p99 errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; printf "%.2f", v}' "$WORK/wrk.out")
  errors=$(awk '/Non-2xx or 3xx responses|Socket errors/ {print}' "$WORK/wrk.out")
  [ -n "$errors" ] && echo "wrk reported: $errors" >&2
  echo "$rps $p99"
}

echo "pgrest bench: GET /todos?id=eq.N over $ROWS rows, $CLIENTS connections, ${DURATION}s each, $WORKERS pgrest workers, $(nproc) cores"
echo "worker RSS before: $(rss)"
# Warm up caches and kept plans on every path.
DURATION=2 wrk_run >/dev/null
DURATION=2 pgbench_run bare bench_anon >/dev/null
DURATION=2 pgbench_run pooled authenticator >/dev/null

read -r P_RPS P_P99 < <(wrk_run)
read -r A_TPS A_P99 < <(pgbench_run bare bench_anon)
read -r B_TPS B_P99 < <(pgbench_run pooled authenticator)
echo "worker RSS after:  $(rss)"
echo
printf '%-58s %12s %10s\n' "" "req/s" "p99 ms"
printf '%-58s %12.0f %10s\n' "pgrest (wrk, HTTP)" "$P_RPS" "$P_P99"
printf '%-58s %12.0f %10s\n' "(a) pgbench: the bare statement" "$A_TPS" "$A_P99"
printf '%-58s %12.0f %10s\n' "(b) pgbench: BEGIN; set_config batch; statement; COMMIT" "$B_TPS" "$B_P99"
echo
awk -v p="$P_RPS" -v a="$A_TPS" -v b="$B_TPS" 'BEGIN {
  printf "pgrest / (a) = %.2fx   (target 0.7x)\n", p / a
  printf "pgrest / (b) = %.2fx   (target 1.0x)\n", p / b
}'

# Head-of-line: one client loops over a 2 s read while wrk runs GETs by primary key.
HOL_SECONDS=${BENCH_HOL_SECONDS:-10}
( end=$((SECONDS + HOL_SECONDS + 1))
  while [ $SECONDS -lt $end ]; do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/bench_slow"; done ) &
SLOW_PID=$!
sleep 0.3
wrk -t2 -c8 -d"${HOL_SECONDS}s" --latency -s "$WORK/get.lua" "http://127.0.0.1:$HTTP_PORT" >"$WORK/hol.out" 2>&1
wait $SLOW_PID || true
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us/,"",v); v=v/1000 } else if (v ~ /ms$/) { sub(/ms/,"",v) } else if (v ~ /s$/) { sub(/s/,"",v); v=v*1000 }; printf "%.2f", v }'; }
HOL_P50=$(ms "$(awk '$1 == "50%" {print $2}' "$WORK/hol.out")")
HOL_P99=$(ms "$(awk '$1 == "99%" {print $2}' "$WORK/hol.out")")
HOL_MAX=$(ms "$(awk '$1 == "Latency" {print $4; exit}' "$WORK/hol.out")")
HOL_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/hol.out")
echo
echo "head-of-line: GET by primary key on 8 connections while one client loops over a 2 s read"
printf '  %.0f req/s   p50 %s ms   p99 %s ms   max %s ms   (target: max < 100 ms)\n' "$HOL_RPS" "$HOL_P50" "$HOL_P99" "$HOL_MAX"

# Embedding: the statements pgrest generates (each checked against pgrest's answer first).
TAIL='SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, NULL::text AS location, coalesce(json_agg(_postgrest_t), '"'"'[]'"'"') AS body, nullif(current_setting('"'"'response.headers'"'"', true), '"'"''"'"') AS response_headers, nullif(current_setting('"'"'response.status'"'"', true), '"'"''"'"') AS response_status FROM pgrst_source _postgrest_t'
TO_ONE_URL='/bench_child?select=id,note,bench_parent(id,name)&id=eq.'
TO_ONE='WITH pgrst_source AS (SELECT "api"."bench_child"."id", "api"."bench_child"."note", row_to_json("bench_child_bench_parent_1".*)::jsonb AS "bench_parent" FROM "api"."bench_child" LEFT JOIN LATERAL (SELECT "bench_parent_1"."id", "bench_parent_1"."name" FROM "api"."bench_parent" AS "bench_parent_1" WHERE "bench_parent_1"."id" = "api"."bench_child"."parent_id") AS "bench_child_bench_parent_1" ON TRUE WHERE "api"."bench_child"."id" = :id::"pg_catalog"."int4") '"$TAIL"
TO_MANY_URL='/bench_parent?select=id,name,bench_child(id,note)&id=eq.'
TO_MANY='WITH pgrst_source AS (SELECT "api"."bench_parent"."id", "api"."bench_parent"."name", COALESCE("bench_parent_bench_child_1"."bench_parent_bench_child_1", '"'"'[]'"'"') AS "bench_child" FROM "api"."bench_parent" LEFT JOIN LATERAL (SELECT json_agg("bench_parent_bench_child_1")::jsonb AS "bench_parent_bench_child_1" FROM (SELECT "bench_child_1"."id", "bench_child_1"."note" FROM "api"."bench_child" AS "bench_child_1" WHERE "bench_child_1"."parent_id" = "api"."bench_parent"."id") AS "bench_parent_bench_child_1") AS "bench_parent_bench_child_1" ON TRUE WHERE "api"."bench_parent"."id" = :id::"pg_catalog"."int4") '"$TAIL"

# embed_case NAME URL_PREFIX STATEMENT MAX_ID: prints pgrest req/s, pgbench tps, ratio.
embed_case() {
  local name=$1 url=$2 query=$3 max=$4 via_http via_sql rps tps
  via_http=$(curl -s "http://127.0.0.1:$HTTP_PORT${url}7")
  via_sql=$(psql -At -c "SELECT body FROM (${query//:id/7}) q")
  if [ "$(printf '%s' "$via_http" | tr -d ' \n')" != "$(printf '%s' "$via_sql" | tr -d ' \n')" ]; then
    echo "bench: the $name statement is not what pgrest answers with:" >&2
    echo "  http: $via_http" >&2
    echo "  sql:  $via_sql" >&2
    exit 1
  fi
  printf '\\set id random(1, %s)\n%s;\n' "$max" "$query" >"$WORK/$name.sql"
  printf 'math.randomseed(os.time())\nrequest = function()\n  return wrk.format("GET", "%s" .. math.random(1, %s))\nend\n' \
    "$url" "$max" >"$WORK/$name.lua"
  DURATION=2 pgbench_run "$name" bench_anon >/dev/null
  wrk -t"$THREADS" -c"$CLIENTS" -d2s -s "$WORK/$name.lua" "http://127.0.0.1:$HTTP_PORT" >/dev/null 2>&1
  wrk -t"$THREADS" -c"$CLIENTS" -d"${DURATION}s" -s "$WORK/$name.lua" "http://127.0.0.1:$HTTP_PORT" >"$WORK/$name-wrk.out" 2>&1
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/$name-wrk.out")
  read -r tps _ < <(pgbench_run "$name" bench_anon)
  printf '%-58s %12.0f %12.0f %8.2fx\n' "$name ${url}N" "$rps" "$tps" "$(awk -v p="$rps" -v a="$tps" 'BEGIN {print p / a}')"
}
echo
echo "embedding ($ROWS parents, 10 children each): pgrest req/s beside pgbench running the same statement"
printf '%-58s %12s %12s %9s\n' "" "pgrest" "pgbench" "ratio"
embed_case to_one "$TO_ONE_URL" "$TO_ONE" $((ROWS * 10))
embed_case to_many "$TO_MANY_URL" "$TO_MANY" "$ROWS"

# Writes and calls: POST bodies, each beside pgbench running pgrest's statement with the body
# as a literal (the statements of src/query/tests.rs: insert_statement_snapshot and
# call_statement_snapshot).
GUCS='nullif(current_setting('"'"'response.headers'"'"', true), '"'"''"'"') AS response_headers, nullif(current_setting('"'"'response.status'"'"', true), '"'"''"'"') AS response_status'
INSERT_SQL() { # $1: the JSON array literal
  printf '%s' 'WITH pgrst_source AS (INSERT INTO "api"."bench_write"("id", "note") SELECT pgrst_body."id", pgrst_body."note" FROM json_to_recordset('"'$1'"'::json) AS pgrst_body("id" "pg_catalog"."int4", "note" "pg_catalog"."text") RETURNING 1) SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, NULL::text AS location, NULL::text AS body, '"$GUCS"' FROM (SELECT * FROM pgrst_source) _postgrest_t'
}
CALL_SQL() {
  printf '%s' 'WITH pgrst_source AS (SELECT pgrst_call.pgrst_scalar FROM (SELECT * FROM json_to_recordset('"'$1'"'::json) AS _("a" "pg_catalog"."int4", "b" "pg_catalog"."int4") LIMIT 1) pgrst_body CROSS JOIN LATERAL (SELECT "api"."bench_add"("a" := pgrst_body."a", "b" := pgrst_body."b") pgrst_scalar) pgrst_call) SELECT NULL::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, NULL::text AS location, coalesce(json_agg(_postgrest_t.pgrst_scalar)->0, '"'null'"') AS body, '"$GUCS"' FROM (SELECT "bench_add".* FROM pgrst_source AS "bench_add") _postgrest_t'
}

# post_case NAME PATH BODY STATEMENT EXPECTED_STATUS: prints pgrest req/s, pgbench tps, ratio.
post_case() {
  local name=$1 path=$2 body=$3 query=$4 expect=$5 status rps tps
  printf '%s' "$body" >"$WORK/$name.json"
  status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$WORK/$name.json" "http://127.0.0.1:$HTTP_PORT$path")
  if [ "$status" != "$expect" ]; then
    echo "bench: POST $path answered $status, not $expect" >&2
    exit 1
  fi
  printf '%s;\n' "$query" >"$WORK/$name.sql"
  printf 'local f = io.open("%s")\nwrk.method = "POST"\nwrk.body = f:read("*a")\nf:close()\nwrk.headers["Content-Type"] = "application/json"\nrequest = function()\n  return wrk.format(nil, "%s")\nend\n' \
    "$WORK/$name.json" "$path" >"$WORK/$name.lua"
  DURATION=2 pgbench_run "$name" bench_anon >/dev/null
  wrk -t"$THREADS" -c"$CLIENTS" -d2s -s "$WORK/$name.lua" "http://127.0.0.1:$HTTP_PORT" >/dev/null 2>&1
  wrk -t"$THREADS" -c"$CLIENTS" -d"${DURATION}s" -s "$WORK/$name.lua" "http://127.0.0.1:$HTTP_PORT" >"$WORK/$name-wrk.out" 2>&1
  if grep -q 'Non-2xx' "$WORK/$name-wrk.out"; then
    echo "bench: $name: $(grep 'Non-2xx' "$WORK/$name-wrk.out")" >&2
  fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/$name-wrk.out")
  read -r tps _ < <(pgbench_run "$name" bench_anon)
  printf '%-58s %12.0f %12.0f %8.2fx\n' "$name" "$rps" "$tps" "$(awk -v p="$rps" -v a="$tps" 'BEGIN {print p / a}')"
}
ONE='[{"id":1,"note":"one row"}]'
THOUSAND=$(awk 'BEGIN { printf "["; for (i = 1; i <= 1000; i++) { if (i > 1) printf ","; printf "{\"id\":%d,\"note\":\"row %d\"}", i, i }; printf "]" }')
ADD='{"a":1,"b":2}'
if [ "$(psql -At -c "SELECT body FROM ($(CALL_SQL "[$ADD]")) q")" != "$(curl -s -H 'Content-Type: application/json' -d "$ADD" "http://127.0.0.1:$HTTP_PORT/rpc/bench_add")" ]; then
  echo "bench: the call statement is not what pgrest answers with" >&2
  exit 1
fi
echo
echo "writes and calls: pgrest req/s beside pgbench running the same statement with the same body"
printf '%-58s %12s %12s %9s\n' "" "pgrest" "pgbench" "ratio"
post_case post_one_row /bench_write "$ONE" "$(INSERT_SQL "$ONE")" 201
post_case post_1000_rows /bench_write "$THOUSAND" "$(INSERT_SQL "$THOUSAND")" 201
post_case rpc_bench_add /rpc/bench_add "$ADD" "$(CALL_SQL "[$ADD]")" 200

# JWT: GET by key with an RS256 token (a JWKS of one RSA key generated here), with the JWT
# cache (pgrest.jwt_cache_max_entries, default 1000) and without it. The writes above left
# millions of rows for autovacuum and the checkpointer: clear them first.
psql -c "TRUNCATE api.bench_write" -c "CHECKPOINT" >/dev/null
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/rsa.pem" 2>/dev/null
N=$(openssl rsa -in "$WORK/rsa.pem" -noout -modulus | sed 's/^Modulus=//' | perl -ne 'chomp; print pack("H*", $_)' | b64url)
psql -c "ALTER SYSTEM SET pgrest.jwt_secret = '{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"bench\",\"alg\":\"RS256\",\"n\":\"$N\",\"e\":\"AQAB\"}]}'" >/dev/null
# The cluster directory is reused by the next run: state every setting, reset them at the end.
psql -c "ALTER SYSTEM SET pgrest.jwt_cache_max_entries = 1000" >/dev/null
psql -c "SELECT pg_reload_conf()" >/dev/null
H=$(printf '{"alg":"RS256","typ":"JWT","kid":"bench"}' | b64url)
P=$(printf '{"role":"web_anon","exp":%d}' $(($(date +%s) + 3600)) | b64url)
S=$(printf '%s.%s' "$H" "$P" | openssl dgst -sha256 -sign "$WORK/rsa.pem" -binary | b64url)
TOKEN="$H.$P.$S"
cat >"$WORK/jwt.lua" <<EOF
math.randomseed(os.time())
wrk.headers["Authorization"] = "Bearer $TOKEN"
request = function()
  return wrk.format("GET", "/todos?id=eq." .. math.random(1, $ROWS))
end
EOF
jwt_case() {
  local status rps
  sleep 2 # the workers apply the reloaded settings
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/todos?id=eq.1")
  if [ "$status" != 200 ]; then
    echo "bench: the RS256 token was answered $status" >&2
    exit 1
  fi
  wrk -t"$THREADS" -c"$CLIENTS" -d2s -s "$WORK/jwt.lua" "http://127.0.0.1:$HTTP_PORT" >/dev/null 2>&1
  wrk -t"$THREADS" -c"$CLIENTS" -d"${DURATION}s" -s "$WORK/jwt.lua" "http://127.0.0.1:$HTTP_PORT" >"$WORK/jwt-wrk.out" 2>&1
  if grep -q 'Non-2xx' "$WORK/jwt-wrk.out"; then
    echo "bench: jwt: $(grep 'Non-2xx' "$WORK/jwt-wrk.out")" >&2
  fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/jwt-wrk.out")
  printf '%-58s %12.0f\n' "$1" "$rps"
}
echo
echo "JWT: GET /todos?id=eq.N with an RS256 token (one token, as a client reuses it)"
printf '%-58s %12s\n' "" "req/s"
jwt_case "with the JWT cache (pgrest.jwt_cache_max_entries = 1000)"
psql -c "ALTER SYSTEM SET pgrest.jwt_cache_max_entries = 0" -c "SELECT pg_reload_conf()" >/dev/null
jwt_case "without it (pgrest.jwt_cache_max_entries = 0)"
psql -c "ALTER SYSTEM RESET pgrest.jwt_cache_max_entries" -c "ALTER SYSTEM RESET pgrest.jwt_secret" \
  -c "SELECT pg_reload_conf()" >/dev/null
