#!/usr/bin/env bash
# Installs what building pgrest needs, skipping what is already there: Debian's PostgreSQL 15
# with its server headers, clang for bindgen, sudo (cargo pgrx test runs PostgreSQL as the
# postgres user through it), pip (.ci/pg.sh downloads the other PostgreSQL versions with it),
# cargo-pgrx 0.18.0, and `cargo pgrx init` against Debian's pg_config.
# WITH_TEST_TOOLS=1 (make test) adds the OpenAPI tests' tools: Debian's Chromium, Node.js
# packages (Swagger UI, playwright-core) and a Python venv with openapi-spec-validator, under
# target/openapi-tools. WITH_BENCH_TOOLS=1 (make bench) adds wrk and pgbench.
set -euo pipefail

# For cargo commands run by hand; the Makefile passes the pg_config of each step itself.
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export PATH="$HOME/.cargo/bin:$PATH"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

packages=(postgresql-15 postgresql-server-dev-15 libclang-dev clang sudo curl openssl)
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)
if [ "${WITH_TEST_TOOLS:-0}" = 1 ]; then
  packages+=(chromium python3-venv git)
  # Node.js may come from elsewhere (NodeSource's package holds npm and conflicts with Debian's).
  command -v npm >/dev/null || packages+=(nodejs npm)
fi
if [ "${WITH_BENCH_TOOLS:-0}" = 1 ]; then packages+=(wrk postgresql-contrib); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "deps: cargo is not on PATH; install Rust (rustup) first" >&2
  exit 1
fi
if ! cargo pgrx --version 2>/dev/null | grep -q '0\.18\.0'; then
  echo "deps: installing cargo-pgrx 0.18.0 (takes a few minutes)"
  cargo install cargo-pgrx --version 0.18.0 --locked --quiet
fi
if ! grep -q "^pg15 = \"$PG_CONFIG\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml" 2>/dev/null; then
  cargo pgrx init --pg15="$PG_CONFIG" >/dev/null
fi

[ "${WITH_TEST_TOOLS:-0}" = 1 ] || exit 0

# The OpenAPI tests' tools, pinned in pgrx-tests/openapi/.
tools=target/openapi-tools
spec=pgrx-tests/openapi
if ! cmp -s "$spec/package.json" "$tools/package.json" 2>/dev/null || [ ! -d "$tools/node_modules/swagger-ui-dist" ]; then
  echo "deps: installing Swagger UI and playwright-core"
  mkdir -p "$tools"
  cp "$spec/package.json" "$tools/package.json"
  (cd "$tools" && npm install --no-audit --no-fund --silent >/dev/null)
fi
if ! cmp -s "$spec/requirements.txt" "$tools/requirements.txt" 2>/dev/null || [ ! -x "$tools/venv/bin/openapi-spec-validator" ]; then
  echo "deps: installing openapi-spec-validator"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check -r "$spec/requirements.txt"
  cp "$spec/requirements.txt" "$tools/requirements.txt"
fi
