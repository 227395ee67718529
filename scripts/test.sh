#!/usr/bin/env bash
# The README's second command (and CI's): set up, check the code (lint, format, types, the
# layering contract), start the real services, run the tests.
# Fails when a check fails or no test ran. Services this script started are stopped again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "test: ruff, mypy --strict, import contracts"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
.venv/bin/lint-imports

started_here=0
bash scripts/services-running.sh || started_here=1
.venv/bin/clearance services up
cleanup() { if [ "$started_here" = 1 ]; then .venv/bin/clearance services down; fi; }
trap cleanup EXIT

set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "test: no tests ran" >&2
  exit 1
fi
exit "$rc"
