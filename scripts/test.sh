#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh machine, then runs it (arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# the versions the suite was last green with (constraints.txt), so a new release upstream cannot break a fresh setup
.venv/bin/python -m pip install -q -c constraints.txt -e '.[test]'
# The end-to-end test drives Debian's Chromium (Playwright cannot download a browser here).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: /usr/bin/chromium is missing, so the browser test will be skipped (sudo apt-get install chromium)"
  fi
fi
exec .venv/bin/python -m pytest "$@"
