# pgrest — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
# The PostgreSQL major version to build for, install into, run and test against: 15 (Debian
# 12's), 16, 17 or 18. Versions the system lacks come as pinned relocatable builds (.ci/pg.sh).
PG_MAJOR ?= 15
export PATH := $(HOME)/.cargo/bin:$(PATH)

# Where clusters keep their data: target/, or a folder of /var/tmp when the postgres OS user
# cannot reach the clone (root's 0700 home). These are evaluated when a recipe runs, after `deps`.
STATE_DIR = $(shell .ci/state-dir.sh)
# The PostgreSQL `make install` and `make run` use: $(PG_CONFIG) if given, else the system's,
# else a pinned relocatable build.
SERVER_PG_CONFIG = $(shell .ci/pg.sh server $(PG_MAJOR))
# The tests' own PostgreSQL: they never install into one anyone else uses.
TEST_PG_CONFIG = $(shell .ci/pg.sh test $(PG_MAJOR))
DEMO_DIR = $(STATE_DIR)/pgrest-demo$(if $(filter 15,$(PG_MAJOR)),,-$(PG_MAJOR))
DEMO_PG_PORT ?= 54329
HTTP_PORT ?= 3000
# `make run PROFILE=dev` serves a debug build.
PROFILE ?= release
CLUSTER := .ci/cluster.sh
FEATURES := --no-default-features --features pg$(PG_MAJOR)

# The test steps build against the tests' PostgreSQL: cargo-pgrx reads it from a pgrx home of
# their own, and every build of a `make test` sees the same pg_config (no binding rebuilds).
define TEST_ENV
PGRX_PG_CONFIG_PATH=$(TEST_PG_CONFIG) PGRX_HOME=$(STATE_DIR)/pgrx-home-$(PG_MAJOR) \
PGREST_PG_BIN=$$($(TEST_PG_CONFIG) --bindir)
endef

.PHONY: run stop install test test-deps system-files-before system-files-after test-pgrx-home test-unit test-pg test-e2e test-install test-newcomer bench lint deps fmt

deps:
	@.ci/deps.sh

## Build, install and serve the demo on http://127.0.0.1:$(HTTP_PORT)
run: deps stop
	.ci/install.sh $(SERVER_PG_CONFIG) --profile $(PROFILE)
	@PG_CONFIG=$(SERVER_PG_CONFIG) $(CLUSTER) start $(DEMO_DIR) $(DEMO_PG_PORT) $(HTTP_PORT)
	@PG_CONFIG=$(SERVER_PG_CONFIG) $(CLUSTER) psql $(DEMO_DIR) $(DEMO_PG_PORT) <sql/demo.sql >/dev/null
	@$(CLUSTER) wait-http $(HTTP_PORT) /todos
	@echo
	@echo "pgrest is serving http://127.0.0.1:$(HTTP_PORT)  (PostgreSQL $(PG_MAJOR): psql -h $(DEMO_DIR) -p $(DEMO_PG_PORT) -U postgres)"
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
	@for d in $(STATE_DIR)/pgrest-demo*; do $(CLUSTER) stop $$d; done

## Build the release and install it into the PostgreSQL of PG_MAJOR (or PG_CONFIG)
install: deps
	.ci/install.sh $(SERVER_PG_CONFIG) --profile $(PROFILE)

## Every test: unit, #[pg_test], end-to-end, installing over a live server, the newcomer path
test: test-deps system-files-before lint test-unit test-pg test-e2e test-install test-newcomer system-files-after

# make test installs only into the tests' own PostgreSQL: pgrest's files in the system's
# PostgreSQL (whatever `make install` put there) must be byte-for-byte the same afterwards.
SYSTEM_FILES = ls /usr/lib/postgresql/*/lib/pgrest.so /usr/share/postgresql/*/extension/pgrest[.-]* 2>/dev/null | xargs -r sha256sum
system-files-before:
	@mkdir -p target && $(SYSTEM_FILES) >target/system-files.sha256
system-files-after:
	@$(SYSTEM_FILES) | diff target/system-files.sha256 - && \
	  echo "make test: the system's pgrest files are unchanged ($$(wc -l <target/system-files.sha256) files)"

test-deps:
	@WITH_TEST_TOOLS=1 .ci/deps.sh

test-unit:
	$(TEST_ENV) cargo test -p pgrest --lib $(FEATURES) -- --skip tests::pg_

test-pg: test-pgrx-home
	@mkdir -p $(STATE_DIR)/pgrx-test-data-$(PG_MAJOR) && { [ "$$(id -u)" -ne 0 ] || chown postgres:postgres $(STATE_DIR)/pgrx-test-data-$(PG_MAJOR); }
	$(TEST_ENV) cargo pgrx test pg$(PG_MAJOR) $(FEATURES) \
	  $(if $(filter 0,$(shell id -u)),--runas postgres --pgdata $(STATE_DIR)/pgrx-test-data-$(PG_MAJOR),)

test-e2e:
	@# test_hooks: requests may ask for a panic at a given stage (tests/server.rs).
	$(TEST_ENV) .ci/install.sh $(TEST_PG_CONFIG) --debug --features test_hooks
	$(TEST_ENV) PGREST_E2E_ROOT=$(STATE_DIR)/e2e-$(PG_MAJOR) \
	  cargo test -p pgrest-e2e --no-fail-fast -- --test-threads=4

## Installing over a running, busy server: no crash (.ci/install-live-test.sh)
test-install:
	$(TEST_ENV) .ci/install-live-test.sh $(TEST_PG_CONFIG)

## `make run` from a clone in a 0700 folder (.ci/newcomer-test.sh)
test-newcomer:
	$(TEST_ENV) .ci/newcomer-test.sh $(TEST_PG_CONFIG)

# cargo pgrx test reads the PostgreSQL to test from $$PGRX_HOME/config.toml.
test-pgrx-home:
	@home=$(STATE_DIR)/pgrx-home-$(PG_MAJOR); want='[configs]'$$'\n''pg$(PG_MAJOR) = "$(TEST_PG_CONFIG)"'; \
	  mkdir -p $$home; [ "$$(cat $$home/config.toml 2>/dev/null)" = "$$want" ] || echo "$$want" >$$home/config.toml

## Throughput and latency against pgbench in the same run (see .ci/bench.sh)
bench:
	@WITH_BENCH_TOOLS=1 .ci/deps.sh
	@$(CLUSTER) stop $(STATE_DIR)/pgrest-bench
	.ci/install.sh $(SERVER_PG_CONFIG) --profile release
	PG_CONFIG=$(SERVER_PG_CONFIG) PGREST_STATE_DIR=$(STATE_DIR) .ci/bench.sh

lint:
	cargo fmt --all -- --check
	$(TEST_ENV) cargo clippy --workspace --all-targets $(FEATURES) -- -D warnings
	@# The thread wall: only the worker's main-thread modules may use pgrx.
	@! grep -ln 'pgrx' src/http/*.rs src/pool.rs src/auth.rs src/claim_path.rs src/api_request/*.rs src/plan/*.rs src/query/*.rs src/response.rs src/metrics.rs src/error.rs src/openapi.rs src/schema_cache/*.rs || { echo "pgrx used outside the main-thread modules"; exit 1; }

fmt:
	cargo fmt --all
