#!/usr/bin/env bash
# Sets up kb on a fresh machine and opens the research page (builds the sample index on first start).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# the versions the suite was last green with (constraints.txt), so a new release upstream cannot break a fresh setup
.venv/bin/python -m pip install -q -c constraints.txt -e .
exec .venv/bin/streamlit run app.py "$@"
