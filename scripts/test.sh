#!/usr/bin/env bash
# Install everything the test suite needs into .venv (from scratch on a fresh machine), then run
# the linters, the type checker and the tests. Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# The dashboard's browser tests drive Debian's Chromium (Playwright's own downloads are not used).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "== installing Debian chromium for the browser tests"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
  else
    echo "note: /usr/bin/chromium is missing and this is not root: the browser tests" \
      "(tests/browser) will be skipped. Install it with: apt-get install chromium" >&2
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# the Node.js example (examples/client_node.js) needs the npm package ws; without node its test
# skips with the reason
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  npm ci --prefix examples --no-audit --no-fund --loglevel=error
fi
echo "== ruff"
.venv/bin/ruff check src tests scripts examples
.venv/bin/ruff format --check src tests scripts examples
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
