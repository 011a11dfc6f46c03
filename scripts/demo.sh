#!/usr/bin/env bash
# Set up (first run only) and run the end-to-end demo on the embedded model.
# Extra arguments go to `lakeinfer demo` (e.g. --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/lakeinfer --home "${LAKEINFER_HOME:-./lakehouse}" demo "$@"
