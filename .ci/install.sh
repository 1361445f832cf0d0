#!/usr/bin/env bash
# Builds pgrest and installs it into a PostgreSQL without ever writing into a file a running
# server may have mapped.
#
#   install.sh PG_CONFIG [cargo pgrx package options...]   build a package, then place it
#   install.sh --place PACKAGE_DIR                          place an already built package
#
# A package is a folder that mirrors the filesystem from / (what `cargo pgrx package` writes).
# Each file is written next to its destination under a temporary name, then renamed over it:
# rename(2) swaps the directory entry, so a postmaster and its backends keep the library they
# loaded (the old inode) while new servers load the new one. Copying over the old file instead
# (`cp`, `cargo pgrx install --sudo`) rewrites pages that running processes execute, and the
# next backend forked from the postmaster dies with SIGSEGV. Runs `sudo` for destinations the
# current user cannot write.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

place() {
  local pkg files src rel dest dir tmp sudo
  pkg=$(cd "$1" && pwd)
  mapfile -t files < <(cd "$pkg" && find . -type f | sort)
  if [ ${#files[@]} -eq 0 ]; then
    echo "install.sh: $pkg holds no files" >&2
    exit 1
  fi
  for rel in "${files[@]}"; do
    src="$pkg/${rel#./}"
    dest="/${rel#./}"
    dir=$(dirname "$dest")
    # sudo only for a folder this user can neither create nor write.
    sudo=()
    if [ "$(id -u)" -ne 0 ] && ! { mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ]; }; then
      sudo=(sudo)
    fi
    "${sudo[@]}" mkdir -p "$dir"
    tmp="$dir/.$(basename "$dest").pgrest-install.$$"
    "${sudo[@]}" install -m 0644 "$src" "$tmp"
    "${sudo[@]}" mv -f -T "$tmp" "$dest"
    echo "install.sh: $dest"
  done
}

if [ "${1:-}" = --place ]; then
  place "${2:?usage: install.sh --place PACKAGE_DIR}"
  exit 0
fi

pg_config=${1:?usage: install.sh PG_CONFIG [cargo pgrx package options...]}
shift
major=$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
# One package folder per PostgreSQL and build: a stale file from another build is never placed.
pkg="$root/target/package/$(printf '%s %s' "$pg_config" "$*" | cksum | cut -d' ' -f1)"
rm -rf "$pkg"
cd "$root"
# The build reads the server headers of this pg_config (not those of ~/.pgrx/config.toml).
PGRX_PG_CONFIG_PATH="$pg_config" cargo pgrx package --pg-config "$pg_config" --out-dir "$pkg" \
  --no-default-features --features "pg$major" "$@"
place "$pkg"
