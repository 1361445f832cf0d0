#!/usr/bin/env bash
# Prints the folder where local clusters keep their data (the demo, the #[pg_test] cluster,
# the end-to-end clusters, the benchmark): the clone's target/, unless the postgres OS user
# cannot reach it -- a clone in root's home (mode 0700) -- then a folder of /var/tmp named
# after the clone's path, which it creates (mode 0755).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ] || ! id postgres >/dev/null 2>&1 ||
  runuser -u postgres -- test -x "$root" 2>/dev/null; then
  echo "$root/target"
  exit 0
fi
dir="/var/tmp/pgrest-$(printf '%s' "$root" | cksum | cut -d' ' -f1)"
mkdir -p "$dir"
chmod 755 "$dir"
echo "$dir"
