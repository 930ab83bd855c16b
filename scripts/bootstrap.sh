#!/usr/bin/env bash
# Creates or refreshes the project's environments from their locks.
#   .tools/venv  uv itself (from envs/tools.txt)
#   .venv        Airflow + the package's dependencies + test tools (requirements-dev.lock)
#   .venv-dbt    dbt-core with the duckdb and databricks adapters (envs/dbt/requirements.lock)
#   .venv-bqemulator  the BigQuery emulator the CDC tests run BigQuery SQL on (envs/bqemulator)
#   .venv-minilake  the local Databricks workspace API (minilake, envs/minilake) for sandbox/databricks
# and the Debian packages of `make stack` (postgresql, redis-server, chromium) when they are missing.
# An environment is re-synced only when its lock's checksum differs from the one recorded
# at its last sync, so a second run costs well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages of the production-shaped stack (`make stack` and its end-to-end tests):
# PostgreSQL and Redis run as plain processes, the UI test drives Debian's chromium. As root with
# apt-get they are installed; otherwise the exact command is printed and bootstrap stops (exit 2).
# `--debian-only` does only this. BOOTSTRAP_SYSROOT: the root their files are looked for under
# (/ by default; tests point it at an empty folder).
SYSROOT=${BOOTSTRAP_SYSROOT:-}
debian_missing() {
  local missing=()
  compgen -G "$SYSROOT/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || [ -x "$SYSROOT/usr/bin/redis-server" ] || missing+=(redis-server)
  [ -x "$SYSROOT/usr/lib/chromium/chromium" ] || missing+=(chromium)
  echo "${missing[@]}"
}
debian_packages() {
  local missing
  missing=$(debian_missing)
  [ -n "$missing" ] || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
  else
    echo "bootstrap: missing Debian packages: $missing. Install them, then re-run make:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y $missing" >&2
    exit 2
  fi
}
if [ "${1:-}" = "--debian-only" ]; then
  debian_packages
  exit 0
fi

PYTHON=${PYTHON:-python3.11}
export UV_COMPILE_BYTECODE=1          # the shell may set PYTHONDONTWRITEBYTECODE; imports stay fast
export UV_LINK_MODE=${UV_LINK_MODE:-copy}
UV=.tools/venv/bin/uv

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "bootstrap: $PYTHON not found. Install Python 3.11 or run: make PYTHON=/path/to/python3.11 ..." >&2
  exit 2
fi

stamp_ok() {  # stamp_ok <venv> <file>...: true when the venv was synced from exactly these files
  [ -x "$1/bin/python" ] && [ -f "$1/.lock.sha256" ] &&
    [ "$(cat "${@:2}" | sha256sum | cut -d' ' -f1)" = "$(cat "$1/.lock.sha256")" ]
}
write_stamp() { cat "${@:2}" | sha256sum | cut -d' ' -f1 > "$1/.lock.sha256"; }

if ! stamp_ok .tools/venv envs/tools.txt; then
  echo "bootstrap: installing uv into .tools/venv"
  rm -rf .tools/venv
  "$PYTHON" -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check -r envs/tools.txt
  write_stamp .tools/venv envs/tools.txt
fi

[ "${1:-}" = "--tools-only" ] && exit 0

debian_packages  # the Debian packages of `make stack` (defined above)

sync_env() {  # sync_env <venv> <lock> [extra uv args...]
  local venv=$1 lock=$2; shift 2
  if stamp_ok "$venv" "$lock"; then return 0; fi
  echo "bootstrap: syncing $venv from $lock (first time: a few minutes, mostly downloads)"
  [ -x "$venv/bin/python" ] || "$UV" venv --quiet --python "$PYTHON" "$venv"
  "$UV" pip sync --python "$venv/bin/python" "$@" "$lock"
  write_stamp "$venv" "$lock"
}

sync_env .venv requirements-dev.lock
# The dbt lock was compiled with envs/dbt/excludes.txt (see there); `pip sync` installs the lock
# as it is, without resolving, so the excluded parser never comes back.
sync_env .venv-dbt envs/dbt/requirements.lock
# The emulator's DuckDB loads its spatial extension from $HOME/.duckdb/extensions; the fixture
# that starts it sets HOME to .venv-bqemulator/home, so the file goes there (no download needed).
sync_env .venv-bqemulator envs/bqemulator/requirements.lock
sync_env .venv-minilake envs/minilake/requirements.lock
ext_dir=.venv-bqemulator/home/.duckdb/extensions/v1.5.5/linux_amd64
if [ ! -f "$ext_dir/spatial.duckdb_extension" ]; then
  mkdir -p "$ext_dir"
  ext=$(find .venv-bqemulator/lib -name 'spatial.duckdb_extension' | head -n1)
  [ -n "$ext" ] || { echo "bootstrap: spatial.duckdb_extension missing from duckdb-extension-spatial" >&2; exit 1; }
  cp "$ext" "$ext_dir/"
fi

# The benchmark environment: only for `make bench` (scripts/bootstrap.sh --bench).
if [ "${1:-}" = "--bench" ]; then
  sync_env .venv-bench benchmarks/requirements.lock
fi
