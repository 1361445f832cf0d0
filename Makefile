# pgrest — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export PATH := $(HOME)/.cargo/bin:$(PATH)
export PG_CONFIG

# Where clusters keep their data: target/, or a folder of /var/tmp when the postgres OS user
# cannot reach the clone (root's 0700 home). Evaluated when a recipe runs, after `deps`.
STATE_DIR = $(shell .ci/state-dir.sh)
DEMO_DIR = $(STATE_DIR)/pgrest-demo
DEMO_PG_PORT := 54329
HTTP_PORT ?= 3000
CLUSTER := .ci/cluster.sh

.PHONY: run stop install test test-unit test-pg test-e2e bench lint deps fmt

deps:
	@.ci/deps.sh

## Build, install and serve the demo on http://127.0.0.1:$(HTTP_PORT)
run: deps
	@$(CLUSTER) stop $(DEMO_DIR)
	cargo pgrx install --release --pg-config $(PG_CONFIG) $(if $(filter 0,$(shell id -u)),,--sudo)
	@$(CLUSTER) start $(DEMO_DIR) $(DEMO_PG_PORT) $(HTTP_PORT)
	@$(CLUSTER) psql $(DEMO_DIR) $(DEMO_PG_PORT) -f sql/demo.sql >/dev/null
	@$(CLUSTER) wait-http $(HTTP_PORT) /todos
	@echo
	@echo "pgrest is serving http://127.0.0.1:$(HTTP_PORT)  (PostgreSQL: psql -h $(DEMO_DIR) -p $(DEMO_PG_PORT) -U postgres)"
	@echo
	@echo "  curl 'http://127.0.0.1:$(HTTP_PORT)/todos'"
	@echo "  curl 'http://127.0.0.1:$(HTTP_PORT)/todos?done=is.false&order=id.desc&limit=2&select=id,task'"
	@echo "  curl 'http://127.0.0.1:$(HTTP_PORT)/todos?select=id,task,user:users(name)&order=id'"
	@echo "  curl 'http://127.0.0.1:$(HTTP_PORT)/'                     # the OpenAPI document"
	@echo "  curl 'http://127.0.0.1:$(HTTP_PORT)/todos' -H 'Content-Type: application/json' -H 'Prefer: return=representation' -d '{\"task\": \"learn pgrest\"}'"
	@echo "  curl -X PATCH 'http://127.0.0.1:$(HTTP_PORT)/todos?id=eq.1' -H 'Content-Type: application/json' -d '{\"done\": true}'"
	@echo "  curl -X DELETE 'http://127.0.0.1:$(HTTP_PORT)/todos?done=is.true'"
	@echo
	@echo "  make stop   stops the cluster"

stop:
	@$(CLUSTER) stop $(DEMO_DIR)

## Build the release and install it into the PostgreSQL of PG_CONFIG
install: deps
	cargo pgrx install --release --pg-config $(PG_CONFIG) $(if $(filter 0,$(shell id -u)),,--sudo)

## Every test: unit, #[pg_test], end-to-end
test: deps lint test-unit test-pg test-e2e

test-unit:
	cargo test -p pgrest --lib -- --skip tests::pg_

test-pg:
	@$(CLUSTER) stop $(DEMO_DIR)
	@mkdir -p $(STATE_DIR)/pgrx-test-data && { [ "$$(id -u)" -ne 0 ] || chown postgres:postgres $(STATE_DIR)/pgrx-test-data; }
	cargo pgrx test pg15 $(if $(filter 0,$(shell id -u)),--runas postgres --pgdata $(STATE_DIR)/pgrx-test-data,)

test-e2e:
	@$(CLUSTER) stop $(DEMO_DIR)
	@# test_hooks: requests may ask for a panic at a given stage (tests/server.rs).
	cargo pgrx install --pg-config $(PG_CONFIG) --features test_hooks $(if $(filter 0,$(shell id -u)),,--sudo)
	PGREST_E2E_ROOT=$(STATE_DIR)/e2e cargo test -p pgrest-e2e -- --test-threads=4

## Throughput and latency against pgbench in the same run (see .ci/bench.sh)
bench:
	@WITH_BENCH_TOOLS=1 .ci/deps.sh
	@$(CLUSTER) stop $(DEMO_DIR)
	cargo pgrx install --release --pg-config $(PG_CONFIG) $(if $(filter 0,$(shell id -u)),,--sudo)
	PGREST_STATE_DIR=$(STATE_DIR) .ci/bench.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@# The thread wall: only the worker's main-thread modules may use pgrx.
	@! grep -ln 'pgrx' src/http/*.rs src/pool.rs src/auth.rs src/claim_path.rs src/api_request/*.rs src/plan/*.rs src/query/*.rs src/response.rs src/metrics.rs src/error.rs src/openapi.rs src/schema_cache/*.rs || { echo "pgrx used outside the main-thread modules"; exit 1; }

fmt:
	cargo fmt --all
