#!/usr/bin/env bash
# Rebuild the workspace's editor bundle, lakeinfer/ui/static/editor.js (CodeMirror 6 with the
# Databricks SQL dialect), from frontend/ with the exact versions of frontend/package-lock.json.
# Only needed after changing frontend/; the built file is committed.
set -euo pipefail
cd "$(dirname "$0")/../frontend"
npm ci --no-audit --no-fund
npm run build
