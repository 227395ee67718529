#!/usr/bin/env bash
# Exits 0 when Kafka accepts requests and Elasticsearch is green or yellow, 1 otherwise.
# The status is read once: `status | grep -q` would let grep close the pipe early and, under
# pipefail, make a running service look stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
status=$("${CLEARANCE_CMD:-.venv/bin/clearance}" services status 2>&1 || true)
grep -q "accepting requests" <<<"$status" && grep -qE "cluster (green|yellow)" <<<"$status"
