#!/usr/bin/env bash
# Installs what building and testing pgrest needs, skipping what is already there:
# Debian's PostgreSQL 15 with its server headers, clang for bindgen, sudo (cargo pgrx test
# runs PostgreSQL as the postgres user through it), wrk for `make bench`,
# cargo-pgrx 0.18.0, and `cargo pgrx init` against Debian's pg_config.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PATH="$HOME/.cargo/bin:$PATH"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

packages=(postgresql-15 postgresql-server-dev-15 libclang-dev clang sudo curl)
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
