#!/usr/bin/env bash
# The README's second command (and CI's): set up, start the real services, run the tests.
# Fails when no test ran. Services this script started are stopped again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

started_here=0
if ! .venv/bin/clearance services status | grep -q "accepting requests" \
   || ! .venv/bin/clearance services status | grep -qE "cluster (green|yellow)"; then
  started_here=1
fi
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
