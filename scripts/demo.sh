#!/usr/bin/env bash
# The README's first command: set up, start Kafka and Elasticsearch, run the pipeline on
# synthesized demo tracks and print the decisions.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/clearance demo
