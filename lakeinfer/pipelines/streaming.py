"""Structured-Streaming-style API over Delta tables, with PySpark's names.

    from lakeinfer import functions as F

    query = (
        session.readStream.option("maxBytesPerTrigger", "50K").table("enterprise.docs")
        .select("document_text", F.expr("ai_query('my-llm', document_text)").alias("summary"))
        .writeStream.outputMode("append").trigger(availableNow=True)
        .toTable("enterprise.docs_summary")
    )
    query.awaitTermination()

The first batch covers the rows the source holds when the stream first starts; later batches
only rows of later commits; a restart on the same checkpoint goes on where it stopped. The
checkpoint is kept in the lakehouse (:mod:`lakeinfer.pipelines.locations`) unless the
``checkpointLocation`` option names a folder. Output rows are written exactly once, also across
crashes (see :mod:`lakeinfer.pipelines.execution`).
snake_case aliases: ``read_stream``, ``write_stream``, ``to_table``, ``await_termination``,
``output_mode``, ``last_progress``, ``recent_progress``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, TableName
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.functions import Column, to_expression
from lakeinfer.pipelines.batch import stream_query
from lakeinfer.pipelines.errors import StreamingError
from lakeinfer.pipelines.execution import StreamExecution, StreamSpec, check_options
from lakeinfer.pipelines.locations import explicit_checkpoint, stream_checkpoint

if TYPE_CHECKING:
    from lakeinfer.session import Session

IDLE_POLL_S = 0.1
RECENT_PROGRESS = 100


class DataStreamReader:
    """``session.readStream``: options, then :meth:`table`."""

    def __init__(self, session: Session):
        self._session = session
        self._options: dict[str, str] = {}

    def option(self, key: str, value: Any) -> DataStreamReader:
        """``maxFilesPerTrigger``, ``maxBytesPerTrigger`` (``"50K"``), ``maxRowsPerTrigger``,
        ``skipChangeCommits``."""
        self._options[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return self

    def options(self, **options: Any) -> DataStreamReader:
        for key, value in options.items():
            self.option(key, value)
        return self

    def format(self, source: str) -> DataStreamReader:
        if source.lower() != "delta":
            raise StreamingError(f"readStream reads Delta tables only, not {source!r}")
        return self

    def table(self, name: str) -> StreamingDataFrame:
        """Stream the Delta table ``name`` (``t``, ``schema.t`` or ``catalog.schema.t``)."""
        check_options(self._options)
        qualified = DeltaCatalog.qualify(name.split("."), self._session.namespace)
        self._session.catalog.open(qualified)  # unknown table: fail now, with close matches
        return StreamingDataFrame(self._session, qualified, dict(self._options), [], [])


class StreamingDataFrame:
    """A streaming source with a projection and filters; :attr:`writeStream` starts it."""

    isStreaming = True

    def __init__(
        self,
        session: Session,
        source: TableName,
        options: dict[str, str],
        projections: list[exp.Expression],
        where: list[exp.Expression],
    ):
        self._session = session
        self._source = source
        self._options = options
        self._projections = projections
        self._where = where

    def select(self, *columns: Column | str) -> StreamingDataFrame:
        """Columns by name, ``"*"``, or :mod:`lakeinfer.functions` expressions."""
        projections = [to_expression(c) for c in columns]
        if self._projections:
            raise StreamingError("select() was already called on this stream; call it once")
        return StreamingDataFrame(
            self._session, self._source, self._options, projections, self._where
        )

    def selectExpr(self, *expressions: str) -> StreamingDataFrame:  # noqa: N802 (PySpark name)
        from lakeinfer import functions as F

        return self.select(*(F.expr(e) for e in expressions))

    def where(self, condition: Column | str) -> StreamingDataFrame:
        """Keep rows matching ``condition`` (SQL text or a Column); applied before AI calls."""
        from lakeinfer import functions as F

        column = F.expr(condition) if isinstance(condition, str) else condition
        return StreamingDataFrame(
            self._session,
            self._source,
            self._options,
            self._projections,
            [*self._where, column.expression],
        )

    filter = where

    @property
    def query(self) -> exp.Select:
        """The SQL each micro-batch runs, over the batch's rows."""
        return stream_query(self._source, self._projections, self._where)

    @property
    def writeStream(self) -> DataStreamWriter:  # noqa: N802 (PySpark name)
        return DataStreamWriter(self)

    write_stream = writeStream


class Trigger(enum.Enum):
    AVAILABLE_NOW = "availableNow"
    ONCE = "once"
    PROCESSING_TIME = "processingTime"


_INTERVAL = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?)?\s*$",
    re.IGNORECASE,
)


def parse_interval(text: str | float) -> float:
    """``"10 seconds"``, ``"500 ms"``, ``"1 minute"``, ``2`` -> seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    match = _INTERVAL.match(text)
    if match is None:
        raise StreamingError(f"processingTime must be like '10 seconds' or '500 ms', got {text!r}")
    number, unit = float(match.group(1)), (match.group(2) or "s").lower()
    if unit.startswith("ms") or unit.startswith("milli"):
        return number / 1000
    if unit.startswith("m") and not unit.startswith("ms"):
        return number * 60
    if unit.startswith("h"):
        return number * 3600
    return number


class DataStreamWriter:
    """``df.writeStream``: checkpoint, output mode and trigger, then :meth:`toTable`."""

    def __init__(self, frame: StreamingDataFrame):
        self._frame = frame
        self._options: dict[str, str] = {}
        self._trigger = Trigger.PROCESSING_TIME
        self._interval = 0.0
        self._name: str | None = None

    def option(self, key: str, value: Any) -> DataStreamWriter:
        if key.lower() != "checkpointlocation":
            raise StreamingError(f"unknown writeStream option {key!r}; known: checkpointLocation")
        self._options["checkpointLocation"] = str(value)
        return self

    def outputMode(self, mode: str) -> DataStreamWriter:  # noqa: N802 (PySpark name)
        if mode.lower() != "append":
            raise StreamingError(f"output mode {mode!r} is not supported; use 'append'")
        return self

    output_mode = outputMode

    def format(self, sink: str) -> DataStreamWriter:
        if sink.lower() != "delta":
            raise StreamingError(f"writeStream writes Delta tables only, not {sink!r}")
        return self

    def queryName(self, name: str) -> DataStreamWriter:  # noqa: N802 (PySpark name)
        self._name = name
        return self

    def trigger(
        self,
        *,
        availableNow: bool | None = None,  # noqa: N803 (PySpark name)
        processingTime: str | float | None = None,  # noqa: N803
        once: bool | None = None,
        available_now: bool | None = None,
        processing_time: str | float | None = None,
    ) -> DataStreamWriter:
        """Exactly one of ``availableNow=True`` (process what exists, in as many batches as the
        limits need, then stop), ``processingTime="10 seconds"`` (a batch every interval, until
        stopped) or ``once=True`` (one batch, then stop)."""
        available = availableNow if availableNow is not None else available_now
        interval = processingTime if processingTime is not None else processing_time
        given = [x for x in (available, interval, once) if x not in (None, False)]
        if len(given) != 1:
            raise StreamingError(
                "trigger() takes exactly one of availableNow=True, processingTime='10 seconds' "
                "or once=True"
            )
        if available:
            self._trigger = Trigger.AVAILABLE_NOW
        elif once:
            self._trigger = Trigger.ONCE
        else:
            assert interval is not None
            self._trigger, self._interval = Trigger.PROCESSING_TIME, parse_interval(interval)
        return self

    def toTable(self, name: str) -> StreamingQuery:  # noqa: N802 (PySpark name)
        """Start the stream into the Delta table ``name`` (created on first start).

        Without ``checkpointLocation`` the checkpoint is kept in the lakehouse, under
        ``<home>/_checkpoints/<catalog>/<schema>/<table>/<queryName or source table>``."""
        frame = self._frame
        session = frame._session
        limits, skip = check_options(frame._options)
        sink = DeltaCatalog.qualify(name.split("."), session.namespace)
        if sink == frame._source:
            raise StreamingError(f"a stream cannot write to its own source {sink}")
        given = self._options.get("checkpointLocation")
        if given is not None:
            location = explicit_checkpoint(given)
        else:
            try:
                location = stream_checkpoint(session.catalog.home, sink, frame._source, self._name)
            except StreamingError as exc:
                if self._name is None:
                    raise
                raise StreamingError(
                    f"queryName names the stream's checkpoint in the lakehouse: {exc}; or give "
                    ".option('checkpointLocation', path)"
                ) from None
        spec = StreamSpec(frame._source, sink, frame.query, str(location), limits, skip)
        query = StreamingQuery(session, spec, self._trigger, self._interval, self._name)
        query.start()
        return query

    to_table = toTable


class StreamingQuery:
    """A running stream: :meth:`awaitTermination`, :meth:`stop`, :attr:`status`,
    :attr:`lastProgress` and :attr:`recentProgress` (one dict per batch: rows in and out,
    offsets, versions of lag, AI calls, durations)."""

    def __init__(
        self,
        session: Session,
        spec: StreamSpec,
        trigger: Trigger,
        interval: float,
        name: str | None = None,
    ):
        self._session = session
        self.spec = spec
        self.trigger = trigger
        self.interval = interval
        self.name = name
        self.id = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._message = "Initializing"
        self._active_batch = False
        self._execution: StreamExecution | None = None
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"lakeinfer-stream-{self.spec.sink}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        session = self._session
        con = session._con.cursor()  # its own connection: streams run beside session.sql
        try:
            execution = StreamExecution(
                self.spec,
                session.catalog,
                con,
                session.namespace,
                self._new_evaluator,
                self._record,
            )
            self._execution = execution
            execution.prepare()
            if self.trigger in (Trigger.AVAILABLE_NOW, Trigger.ONCE):
                latest = execution.latest_version()
                while not self._stop.is_set() and execution.has_data(latest):
                    self._batch(execution, latest)
                    if self.trigger is Trigger.ONCE:
                        break
                return
            while not self._stop.is_set():
                began = time.monotonic()
                latest = execution.latest_version()
                if execution.has_data(latest):
                    self._batch(execution, latest)
                    wait = self.interval - (time.monotonic() - began)
                else:
                    self._message = "Waiting for data to arrive"
                    wait = max(self.interval - (time.monotonic() - began), IDLE_POLL_S)
                if wait > 0:
                    self._stop.wait(wait)
        except BaseException as exc:  # reported by awaitTermination / exception()
            self._error = exc
        finally:
            self._message = "Stopped"
            if self._execution is not None:
                self._execution.close()
            con.close()

    def _batch(self, execution: StreamExecution, latest: int) -> None:
        self._message, self._active_batch = "Processing new data", True
        try:
            execution.run_once(latest)
        finally:
            self._active_batch = False
            self._message = "Waiting for next trigger"

    def _new_evaluator(self) -> AiEvaluator:
        session = self._session
        return AiEvaluator(
            session.registry,
            session._loop,
            session.settings,
            cache=session._response_cache,
            progress=False,
        )

    def _record(
        self, ai: AiEvaluator, seconds: float, started: dt.datetime, status: str, error: str | None
    ) -> None:
        statement = self.spec.query.copy()
        statement.meta["source"] = (
            f"-- stream {self.spec.source} -> {self.spec.sink}\n"
            + statement.sql(dialect="databricks")
        )
        with self._lock:
            self._session._record(statement, ai, seconds, started, status, error)

    def awaitTermination(self, timeout: float | None = None) -> bool | None:  # noqa: N802
        """Wait for the stream to end (``availableNow`` ends by itself; others on
        :meth:`stop`). Raises the error that stopped it. With ``timeout`` (seconds), returns
        whether it ended in time."""
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        if self._error is not None:
            error = self._error
            if isinstance(error, Exception):
                raise error
            raise StreamingError(f"stream failed: {error!r}")
        return True if timeout is not None else None

    await_termination = awaitTermination

    def processAllAvailable(self) -> None:  # noqa: N802 (PySpark name)
        """Block until every commit present now has been processed; raises the stream's
        error if it stops first."""
        target: int | None = None
        while self.isActive:
            execution = self._execution
            if execution is not None and execution._position is not None:
                if target is None:
                    target = execution.latest_version()
                if not self._active_batch and not execution.has_data(target):
                    return
            time.sleep(0.02)
        self.awaitTermination()

    def stop(self) -> None:
        """Stop after the batch in progress (which completes and commits); waits for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def isActive(self) -> bool:  # noqa: N802 (PySpark name)
        return self._thread is not None and self._thread.is_alive()

    is_active = isActive

    def exception(self) -> BaseException | None:
        """The error that stopped the stream, if any."""
        return self._error

    @property
    def status(self) -> dict[str, Any]:
        return {
            "message": self._message,
            "isDataAvailable": self._active_batch,
            "isTriggerActive": self._active_batch,
            "isActive": self.isActive,
        }

    @property
    def recentProgress(self) -> list[dict[str, Any]]:  # noqa: N802 (PySpark name)
        execution = self._execution
        return list(execution.progress[-RECENT_PROGRESS:]) if execution is not None else []

    recent_progress = recentProgress

    @property
    def lastProgress(self) -> dict[str, Any] | None:  # noqa: N802 (PySpark name)
        progress = self.recentProgress
        return progress[-1] if progress else None

    last_progress = lastProgress

    def __enter__(self) -> StreamingQuery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
