#!/usr/bin/env bash
# Install everything the test suite needs into .venv (from scratch on a fresh machine), then run
# the linters, the type checker and the tests. Usage: bash scripts/test.sh [pytest args...]
#
# Nothing is optional: the dashboard's browser tests drive Debian's Chromium, the Node.js example
# runs on Debian's node, the README's commands use curl and mosquitto_sub, the MQTT tests start
# Debian's Mosquitto (and openssl for its TLS certificates), so they are installed here (apt-get,
# as root) when missing, and the run stops with the command to type when they are missing and
# this is not root.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

# system packages: "<file that must exist> <Debian package>" pairs
SYSTEM_NEEDS=(
  "/usr/bin/chromium chromium"
  "/usr/bin/node nodejs"
  "/usr/bin/npm npm"
  "/usr/bin/curl curl"
  "/usr/sbin/mosquitto mosquitto"
  "/usr/bin/mosquitto_sub mosquitto-clients"
  "/usr/bin/openssl openssl"
)
missing=()
for need in "${SYSTEM_NEEDS[@]}"; do
  read -r path package <<<"$need"
  [ -x "$path" ] || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "== installing Debian packages: ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "error: the tests need the Debian packages ${missing[*]}; install them with:" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# the test environment is pinned (requirements/test.lock, compiled from pyproject.toml's ranges
# and the `test` extra: see requirements/README.md); the project itself goes in without deps
.venv/bin/python -m pip install -q -r requirements/test.lock
.venv/bin/python -m pip install -q --no-deps -e .
# the Node.js example (examples/client_node.js) needs the npm package ws, pinned in
# examples/package-lock.json
npm ci --prefix examples --no-audit --no-fund --loglevel=error

echo "== ruff"
.venv/bin/ruff check src tests scripts examples
.venv/bin/ruff format --check src tests scripts examples
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
# two worker processes (pytest-xdist), one per core of the 2-core machines the suite is sized
# for; every test starts what it needs on its own free ports, so the workers share nothing
exec .venv/bin/python -m pytest -n 2 "$@"
