"""Batch mode: a statement's uncached requests answered through the provider's batch API.

The requests become JSONL lines (``custom_id`` per request, a hash of the request), sorted so
the same requests always make the same files, split into files within
``lakeinfer.batch_max_requests`` and ``lakeinfer.batch_max_bytes``, uploaded and submitted.
Each file's batch is recorded in the lakehouse (:mod:`lakeinfer.engine.batch_records`) before
the statement waits for it, so a statement killed while it waits, run again, finds the same
batch and waits for it instead of submitting (and paying for) the requests again.

The batches are looked at every ``lakeinfer.batch_poll_s`` seconds, for at most
``lakeinfer.batch_max_wait_s``. Answered lines go to the statement as online answers do
(response format checks, cache, accounting); lines that failed, or were never answered because
the batch expired, are returned to be asked online, once each. A batch that failed as a whole
or was cancelled fails the statement, naming the batch.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from lakeinfer.endpoints.base import AIRequest, BatchAPI, Outcome, Provider
from lakeinfer.endpoints.registry import EndpointRegistry
from lakeinfer.engine.batch_records import BatchRecord, BatchRecords
from lakeinfer.errors import EndpointError, StatementCancelledError
from lakeinfer.redaction import redact
from lakeinfer.settings import Settings

if TYPE_CHECKING:
    from lakeinfer.runtime.cancel import CancelToken
    from lakeinfer.runtime.progress import Progress
    from lakeinfer.runtime.scheduler import CallStats

#: Rows a statement that may use batch mode reads at a time (instead of
#: :data:`lakeinfer.engine.batches.BATCH_ROWS`), so its requests make as few batches as possible.
STATEMENT_ROWS = 1_000_000
#: Look at a batch at least this often while waiting (seconds), to notice a cancel.
CANCEL_CHECK_S = 0.25

Item = tuple[Hashable, AIRequest]


def mode_of(settings: Settings, registry: EndpointRegistry, endpoint: str) -> str:
    """``auto``, ``on`` or ``off`` for ``endpoint``: a ``SET`` in the session, else the
    endpoint's ``batch_mode`` in config.toml, else ``lakeinfer.batch_mode``."""
    chosen = settings.chosen("batch_mode")
    if chosen is not None:
        return str(chosen)
    own = registry.batch_mode_of(endpoint)
    return own if own is not None else str(settings.get("batch_mode"))


def uses_batch(
    settings: Settings,
    registry: EndpointRegistry,
    endpoint: str,
    provider: Provider,
    requests: int,
    accepts_latency: bool,
) -> bool:
    """Whether ``requests`` uncached requests of a statement go through the batch API: ``on``
    always (when the provider has one); ``auto`` for statements that accept the latency
    (CREATE TABLE AS, INSERT) from ``lakeinfer.batch_min_requests`` requests."""
    mode = mode_of(settings, registry, endpoint)
    if mode == "off" or not requests or provider.batch_api() is None:
        return False
    if mode == "on":
        return True
    return accepts_latency and requests >= settings.get("batch_min_requests")


def may_use_batch(settings: Settings, registry: EndpointRegistry) -> bool:
    """Whether batch mode is on or auto for the session or any configured endpoint."""
    if mode_of(settings, registry, "") != "off":
        return True
    return any(registry.batch_mode_of(name) in ("auto", "on") for name in registry.config.endpoints)


@dataclass
class BatchFile:
    """One batch input file: its bytes and the request key of each ``custom_id``."""

    data: bytes
    keys: dict[str, Hashable]


def custom_id(request: AIRequest) -> str:
    """The id of a request's line: a hash of the request, so the same requests make the same
    file in any order of the rows."""
    text = orjson.dumps(
        [request.payload, request.parameters],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    return "r" + hashlib.sha256(text).hexdigest()[:31]


def build_files(
    api: BatchAPI, items: Sequence[Item], max_requests: int, max_bytes: int
) -> tuple[list[BatchFile], list[Item]]:
    """The input files for ``items`` (lines sorted by ``custom_id``, at most ``max_requests``
    lines and ``max_bytes`` bytes each), and the items whose one line is over ``max_bytes``
    (asked online)."""
    lines: list[tuple[str, bytes, Hashable]] = []
    online: list[Item] = []
    seen: set[str] = set()
    for key, request in items:
        cid = custom_id(request)
        while cid in seen:  # two keys asking the same request: each gets its line
            cid = "r" + hashlib.sha256(cid.encode()).hexdigest()[:31]
        seen.add(cid)
        line = api.line(cid, request)
        if len(line) > max_bytes:
            online.append((key, request))
            continue
        lines.append((cid, line, key))
    lines.sort(key=lambda entry: entry[0])
    files: list[BatchFile] = []
    chunk: list[bytes] = []
    keys: dict[str, Hashable] = {}
    size = 0
    for cid, line, key in lines:
        if chunk and (len(chunk) >= max_requests or size + len(line) > max_bytes):
            files.append(BatchFile(b"".join(chunk), keys))
            chunk, keys, size = [], {}, 0
        chunk.append(line)
        keys[cid] = key
        size += len(line)
    if chunk:
        files.append(BatchFile(b"".join(chunk), keys))
    return files, online


def record_id(identity: str, data: bytes) -> str:
    """The record of a file: the endpoint's identity and the file's bytes, hashed."""
    return hashlib.sha256(identity.encode() + b"\n" + data).hexdigest()[:32]


class BatchRun:
    """Answers one set of requests of one endpoint through its batch API."""

    def __init__(
        self,
        api: BatchAPI,
        records: BatchRecords,
        *,
        endpoint: str,
        identity: str,
        settings: Settings,
        stats: CallStats,
        bar: Progress,
        cancel: CancelToken | None = None,
        statement: str | None = None,
    ):
        self.api = api
        self.records = records
        self.endpoint = endpoint
        self.identity = identity
        self.settings = settings
        self.stats = stats
        self.bar = bar
        self.cancel = cancel
        self.statement = statement
        #: the provider's ids of the batches this run used
        self.batch_ids: list[str] = []
        #: batches submitted by this run (the others were picked up from an earlier run)
        self.submitted = 0

    async def run(
        self, items: Sequence[Item], deliver: Callable[[Hashable, Outcome], None]
    ) -> list[Item]:
        """Answer ``items``, giving each answered line to ``deliver(key, outcome)``; returns
        the items still to be asked online (failed, expired or oversized lines)."""
        requests = dict(items)
        files, online = build_files(
            self.api,
            items,
            self.settings.get("batch_max_requests"),
            self.settings.get("batch_max_bytes"),
        )
        running: list[tuple[BatchRecord, BatchFile]] = []
        for number, batch_file in enumerate(files, start=1):
            record = await self._submit(batch_file, number, len(files))
            running.append((record, batch_file))
            self.batch_ids.append(record.batch_id)
        failed = await self._wait(running, deliver)
        return online + [(key, requests[key]) for key in failed]

    async def _submit(self, batch_file: BatchFile, number: int, files: int) -> BatchRecord:
        """The batch of ``batch_file``: the recorded one when an earlier run submitted it and
        did not collect it, else a new one (recorded before this run waits for it)."""
        rid = record_id(self.identity, batch_file.data)
        known = self.records.get(rid)
        if (
            known is not None
            and known.collected_at is None
            and known.status
            not in (
                "failed",
                "expired",
                "cancelled",
            )
        ):
            return known
        if known is not None:
            self.records.supersede(rid)
        file_id = await self.api.upload(batch_file.data, f"lakeinfer-{rid}.jsonl")
        metadata = {"lakeinfer_record": rid, "part": f"{number}/{files}"}
        batch = await self.api.create(file_id, metadata)
        record = BatchRecord(
            id=rid,
            endpoint=self.endpoint,
            batch_id=str(batch["id"]),
            input_file_id=file_id,
            requests=len(batch_file.keys),
            bytes=len(batch_file.data),
            statement=None if self.statement is None else redact(self.statement),
        )
        record.update(batch)
        self.records.put(record)
        self.stats.calls += 1
        self.submitted += 1
        return record

    async def _wait(
        self,
        running: list[tuple[BatchRecord, BatchFile]],
        deliver: Callable[[Hashable, Outcome], None],
    ) -> list[Hashable]:
        """Look at the batches until each has finished, collecting each as it does; returns
        the keys of the lines to ask online."""
        poll = self.settings.get("batch_poll_s")
        deadline = time.monotonic() + self.settings.get("batch_max_wait_s")
        pending = list(running)
        failed: list[Hashable] = []
        while True:
            still: list[tuple[BatchRecord, BatchFile]] = []
            for record, batch_file in pending:
                batch = await self.api.retrieve(record.batch_id)
                record.update(batch)
                self.records.put(record)
                if record.finished:
                    failed += await self._collect(record, batch, batch_file, deliver)
                else:
                    still.append((record, batch_file))
            pending = still
            if not pending:
                return failed
            self._show(pending)
            if time.monotonic() >= deadline:
                ids = ", ".join(r.batch_id for r, _ in pending)
                raise EndpointError(
                    self.endpoint,
                    f"batch {ids} not finished after lakeinfer.batch_max_wait_s = "
                    f"{self.settings.get('batch_max_wait_s'):g}s; it keeps running at the "
                    f"provider: run the statement again to pick it up, or "
                    f"`lakeinfer batches cancel {pending[0][0].batch_id}`",
                )
            await self._sleep(min(poll, max(deadline - time.monotonic(), 0.0)))

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, stopping early with StatementCancelledError on a cancel (the
        batches keep running; a re-run picks them up)."""
        import asyncio

        end = time.monotonic() + seconds
        while True:
            if self.cancel is not None and self.cancel.cancelled:
                raise StatementCancelledError(
                    "the statement was cancelled; nothing was written (its batches keep "
                    "running at the provider: run it again to pick them up, or cancel them "
                    "with `lakeinfer batches cancel`)"
                )
            left = end - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, CANCEL_CHECK_S))

    def _show(self, pending: list[tuple[BatchRecord, BatchFile]]) -> None:
        done = sum(r.completed + r.failed for r, _ in pending)
        total = sum(r.requests for r, _ in pending)
        statuses = ",".join(sorted({r.status for r, _ in pending}))
        self.bar.status(f"{len(pending)} batch(es) {statuses}: {done}/{total}")

    async def _collect(
        self,
        record: BatchRecord,
        batch: dict,
        batch_file: BatchFile,
        deliver: Callable[[Hashable, Outcome], None],
    ) -> list[Hashable]:
        """Give the answered lines of a finished batch to ``deliver``; returns the keys of
        its failed and unanswered lines. A failed or cancelled batch fails the statement."""
        if record.status == "failed":
            errors = (batch.get("errors") or {}).get("data") or []
            reasons = "; ".join(
                f"{e.get('code')}: {e.get('message')}"
                + (f" (line {e['line']})" if e.get("line") is not None else "")
                for e in errors[:3]
            )
            raise EndpointError(
                self.endpoint,
                f"batch {record.batch_id} failed: {reasons or 'no reason given'}",
            )
        answered: set[str] = set()
        failed: list[Hashable] = []
        for file_id in (record.output_file_id, record.error_file_id):
            if not file_id:
                continue
            for raw in (await self.api.content(file_id)).splitlines():
                if not raw.strip():
                    continue
                try:
                    line = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue  # a broken line counts as unanswered: asked online
                cid = line.get("custom_id") if isinstance(line, dict) else None
                key = batch_file.keys.get(cid) if isinstance(cid, str) else None
                if key is None or cid in answered:
                    continue
                answered.add(cid)
                outcome = self.api.outcome(line)
                if not outcome.ok:
                    failed.append(key)
                    continue
                self.stats.requests += 1
                self.stats.prompt_tokens += outcome.prompt_tokens
                self.stats.completion_tokens += outcome.completion_tokens
                self.stats.cached_tokens += outcome.cached_tokens
                deliver(key, outcome)
        unanswered = [key for cid, key in batch_file.keys.items() if cid not in answered]
        if record.status == "cancelled":
            raise EndpointError(
                self.endpoint,
                f"batch {record.batch_id} was cancelled; {len(answered) - len(failed)} of "
                f"{record.requests} requests were answered (cached); run the statement again "
                f"to ask the rest",
            )
        record.collected_at = time.time()
        self.records.put(record)
        return failed + unanswered


def look_up(
    registry: EndpointRegistry,
    run: Callable[[Any], Any],
    records: BatchRecords,
    reference: str,
    *,
    cancel: bool = False,
) -> BatchRecord:
    """The record of batch ``reference`` brought up to date from its provider (after asking
    the provider to cancel the batch, with ``cancel``); ``run`` runs a coroutine on the
    session's loop."""
    record = records.find(reference)
    api = registry.get(record.endpoint).batch_api()
    if api is None:
        raise EndpointError(record.endpoint, "the endpoint has no batch API")
    if cancel and not record.finished:
        record.update(run(api.cancel(record.batch_id)))
        records.put(record)
    record.update(run(api.retrieve(record.batch_id)))
    records.put(record)
    return record
