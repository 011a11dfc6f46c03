"""The micro-batch loop of one stream: plan, write ahead, evaluate, commit, mark.

For batch N: (1) plan the range from the previous end (limits applied) and write
``offsets/N``; (2) read the rows and run the query (AI answers cached as they arrive);
(3) append the result to the sink under the transaction ``(checkpoint id, N)``; (4) write
``commits/N``. A crash before (4) re-runs N over the same range on restart; (3) skips the write
when the sink already holds N, and the response cache answers what was already paid for.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace, TableName
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.pipelines.batch import run_batch
from lakeinfer.pipelines.checkpoint import Checkpoint
from lakeinfer.pipelines.consistency import verify_sink, verify_source
from lakeinfer.pipelines.errors import StreamingError
from lakeinfer.pipelines.sink import DeltaSink
from lakeinfer.pipelines.source import DeltaSource, Limits, Position, slices_between

#: Called after each batch that used a model: (evaluator, seconds, started_at, status, error).
BatchRecorder = Callable[[AiEvaluator, float, dt.datetime, str, str | None], None]


@dataclass
class StreamSpec:
    """What a stream reads, computes and writes."""

    source: TableName
    sink: TableName
    query: exp.Expression
    checkpoint: str
    limits: Limits
    skip_change_commits: bool = False


class StreamExecution:
    """Runs the batches of one stream on one DuckDB connection (not thread-safe itself)."""

    def __init__(
        self,
        spec: StreamSpec,
        catalog: DeltaCatalog,
        con: duckdb.DuckDBPyConnection,
        namespace: Namespace,
        new_evaluator: Callable[[], AiEvaluator],
        record: BatchRecorder | None = None,
    ):
        self.spec = spec
        self.catalog = catalog
        self.con = con
        self.namespace = namespace
        self.new_evaluator = new_evaluator
        self.record = record
        self.checkpoint = Checkpoint(spec.checkpoint)
        self.progress: list[dict[str, Any]] = []
        self.total_rows = 0
        self._source: DeltaSource | None = None
        self._sink: DeltaSink | None = None
        self._next_id = 0
        self._position: Position | None = None
        self._pending: tuple[int, Position, Position, int] | None = None

    # -- setup ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Open (or create) the checkpoint and the sink; fails before any model call."""
        spec = self.spec
        source_table = self.catalog.open(spec.source)  # unknown table: a clear error
        query_text = spec.query.sql(dialect="databricks")
        source_id = source_table.metadata().id
        self.checkpoint.acquire()
        metadata = self.checkpoint.metadata()
        if metadata is None:
            metadata = self.checkpoint.initialise(
                str(spec.source), str(spec.sink), source_table.version(), query_text, source_id
            )
        self.checkpoint.check(metadata, str(spec.source), str(spec.sink))
        verify_source(self.checkpoint, metadata, source_id)
        self._source = DeltaSource(
            self.catalog.table_path(spec.source),
            str(spec.source),
            int(metadata["startVersion"]),
            spec.skip_change_commits,
        )
        self._sink = DeltaSink(self.catalog, spec.sink, metadata["id"])
        verify_sink(self.checkpoint, metadata, self._sink)  # before the sink may be created
        schema = self._source.arrow_schema()
        if not self.catalog.exists(spec.sink):
            # the output schema, from the query over no rows (no model is called)
            empty = self._evaluate(schema.empty_table(), record=False)
            self._sink.ensure(empty.schema)
        if not metadata.get("sinkTableId") or not metadata.get("sourceTableId"):
            # ties the checkpoint to these tables (older checkpoints: from their next start)
            metadata = self.checkpoint.record(
                metadata, sourceTableId=source_id, sinkTableId=self._sink.table_id()
            )
        last = self.checkpoint.last_offset()
        if last is None:
            self._position = Position(self._source.start_version)
            return
        batch_id, offset = last
        start, end = Position.from_json(offset["start"]), Position.from_json(offset["end"])
        if self.checkpoint.is_committed(batch_id):
            self._next_id, self._position = batch_id + 1, end
        else:
            self._next_id, self._position = batch_id, start
            self._pending = (batch_id, start, end, int(offset["latestVersion"]))

    def close(self) -> None:
        """Let another stream use the checkpoint."""
        self.checkpoint.release()

    # -- batches -------------------------------------------------------------------------
    def latest_version(self) -> int:
        assert self._source is not None
        return self._source.latest_version()

    def has_data(self, latest: int) -> bool:
        assert self._source is not None and self._position is not None
        if self._pending is not None:
            return True
        return self._source.normalise(self._position, latest).version <= latest

    def run_once(self, latest: int | None = None) -> dict[str, Any] | None:
        """Run the next batch if there is data up to ``latest``; its progress, else None."""
        source, sink = self._source, self._sink
        assert source is not None and sink is not None and self._position is not None
        started, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
        if self._pending is not None:
            batch_id, start, end, planned_latest = self._pending
            slices = slices_between(source, start, end, planned_latest)
            latest = max(planned_latest, latest or planned_latest)
        else:
            latest = source.latest_version() if latest is None else latest
            start = self._position
            slices, end = source.plan(start, latest, self.spec.limits)
            if not slices:
                return None
            batch_id = self._next_id
            self.checkpoint.write_offset(batch_id, start, end, latest)
            self._pending = (batch_id, start, end, latest)
        planned = time.monotonic()
        rows_in = sum(s.stop - s.start for s in slices)
        written, rows_out, ai = False, 0, None
        if sink.committed_version() < batch_id:
            rows = source.read(slices, source.arrow_schema())
            ai = self.new_evaluator()
            output = self._evaluate(rows, ai=ai, started_at=started_at)
            rows_out = output.num_rows
            evaluated = time.monotonic()
            written = sink.commit(batch_id, output)
        else:
            evaluated = time.monotonic()
        if not written:
            # written before (a crash after the Delta commit): count what that commit added
            rows_out = sink.written_rows(batch_id) or 0
        self.checkpoint.mark_committed(
            batch_id,
            {"numInputRows": rows_in, "numOutputRows": rows_out, "written": written,
             "recovered": not written},
        )  # fmt: skip
        self._pending = None
        self._next_id, self._position = batch_id + 1, end
        self.total_rows += rows_out
        finished = time.monotonic()
        progress = self._progress(
            batch_id, start, end, latest, rows_in, rows_out, written, ai, started_at,
            {
                "planning": planned - started,
                "query": evaluated - planned,
                "commit": finished - evaluated,
                "total": finished - started,
            },
        )  # fmt: skip
        self.progress.append(progress)
        return progress

    def _evaluate(
        self,
        rows: pa.Table,
        *,
        ai: AiEvaluator | None = None,
        record: bool = True,
        started_at: dt.datetime | None = None,
    ) -> pa.Table:
        ai = ai or self.new_evaluator()
        began = time.monotonic()
        status, error = "FINISHED", None
        try:
            return run_batch(
                self.con, self.catalog, self.namespace, self.spec.query, self.spec.source, rows, ai
            )
        except Exception as exc:
            status, error = "FAILED", str(exc)
            raise
        finally:
            if record and self.record is not None and ai.usage:
                when = started_at or dt.datetime.now(dt.UTC)
                self.record(ai, time.monotonic() - began, when, status, error)

    def _progress(
        self,
        batch_id: int,
        start: Position,
        end: Position,
        latest: int,
        rows_in: int,
        rows_out: int,
        written: bool,
        ai: AiEvaluator | None,
        started_at: dt.datetime,
        durations: dict[str, float],
    ) -> dict[str, Any]:
        stats = ai.stats if ai is not None else None
        cache_hits = sum(u.cache_hits for u in ai.usage.values()) if ai is not None else 0
        lag = max(0, latest - end.version + 1) if end.version <= latest else 0
        return {
            "batchId": batch_id,
            "timestamp": started_at.isoformat(),
            "source": str(self.spec.source),
            "sink": str(self.spec.sink),
            "startOffset": start.to_json(),
            "endOffset": end.to_json(),
            "latestVersion": latest,
            "lagVersions": lag,
            "lagRows": self._source.rows_after(end, latest) if self._source else 0,
            "numInputRows": rows_in,
            "numOutputRows": rows_out,
            "written": written,
            "aiCalls": stats.calls if stats is not None else 0,
            "aiCacheHits": cache_hits,
            "durationMs": {k: round(v * 1000, 1) for k, v in durations.items()},
        }


def check_options(options: dict[str, str]) -> tuple[Limits, bool]:
    """The limits and ``skipChangeCommits`` from reader options (names are case-insensitive)."""
    known = {
        "maxfilespertrigger": "maxFilesPerTrigger",
        "maxbytespertrigger": "maxBytesPerTrigger",
        "maxrowspertrigger": "maxRowsPerTrigger",
        "skipchangecommits": "skipChangeCommits",
    }
    values: dict[str, str] = {}
    for key, value in options.items():
        name = known.get(key.lower())
        if name is None:
            raise StreamingError(
                f"unknown readStream option {key!r}; known options: {', '.join(known.values())}"
            )
        values[name] = str(value)
    skip = values.get("skipChangeCommits", "false").strip().lower()
    if skip not in ("true", "false"):
        raise StreamingError(f"skipChangeCommits must be true or false, got {skip!r}")
    limits = Limits(
        max_files=_positive_int(values, "maxFilesPerTrigger"),
        max_bytes=_bytes(values.get("maxBytesPerTrigger")),
        max_rows=_positive_int(values, "maxRowsPerTrigger"),
    )
    return limits, skip == "true"


def _positive_int(values: dict[str, str], name: str) -> int | None:
    if name not in values:
        return None
    try:
        number = int(values[name])
    except ValueError:
        number = 0
    if number < 1:
        raise StreamingError(f"{name} must be a positive integer, got {values[name]!r}")
    return number


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3}


def _bytes(text: str | None) -> int | None:
    """``"50K"``, ``"10m"``, ``"1048576"`` -> bytes (Spark's byte-string units, 1024-based)."""
    if text is None:
        return None
    stripped = text.strip().lower()
    digits = stripped.rstrip("kmgb")
    unit = stripped[len(digits) :]
    try:
        number = float(digits) * _UNITS[unit]
    except (ValueError, KeyError):
        number = 0
    if number < 1:
        raise StreamingError(f"maxBytesPerTrigger must be a size like 50K or 10M, got {text!r}")
    return int(number)
