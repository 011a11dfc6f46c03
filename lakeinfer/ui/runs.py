"""Statements run from the workspace: one at a time on the shared session, watched and cancellable.

A :class:`Run` is the text of the editor executed on a worker thread with
:meth:`Session.run_script <lakeinfer.session.Session.run_script>` inside
:meth:`Session.monitored <lakeinfer.session.Session.monitored>`: its :class:`LiveProgress` counts
the model calls as they are answered, and its :class:`CancelToken` stops them (and the statements
after them) with nothing written. Results are kept, whole, for the last few runs so the grid can
page through them.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from lakeinfer.errors import LakeinferError, SqlSyntaxError, StatementCancelledError
from lakeinfer.redaction import redact
from lakeinfer.runtime.cancel import CancelToken
from lakeinfer.runtime.progress import LiveProgress
from lakeinfer.session import Session
from lakeinfer.sql.parse import tokenize

KEEP_RUNS = 20
#: how long closing the workspace waits for a cancelled run to stop
CLOSE_TIMEOUT_S = 10.0
_POSITION = re.compile(r"at line (\d+), column (\d+)")


class BusyError(LakeinferError):
    """A statement is already running on this workspace's session."""


@dataclass
class StatementResult:
    """One statement of a run: its text, its rows and what its model calls cost."""

    index: int
    sql: str
    is_query: bool
    table: pa.Table
    ai: str | None = None  # the one-line cost summary the CLI prints


@dataclass
class Run:
    """A script submitted from the editor and everything known about its execution."""

    sql: str
    progress: LiveProgress
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    cancel: CancelToken = field(default_factory=CancelToken)
    state: str = "running"  # running | finished | failed | cancelled
    started: float = field(default_factory=time.time)
    seconds: float | None = None
    statements: list[StatementResult] = field(default_factory=list)
    error: dict[str, Any] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    #: Databricks endpoint names this run called that an embedded model answered, and it
    stand_ins: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """The run as the page shows it (without rows: those are paged separately)."""
        elapsed = self.seconds if self.seconds is not None else time.time() - self.started
        return {
            "id": self.id,
            "state": self.state,
            "seconds": round(elapsed, 3),
            "progress": asdict(self.progress.snapshot()),
            "statements": [
                {
                    "index": s.index,
                    "sql": s.sql,
                    "is_query": s.is_query,
                    "rows": s.table.num_rows,
                    "columns": s.table.num_columns,
                    "ai": s.ai,
                }
                for s in self.statements
            ],
            "error": self.error,
            "stand_ins": dict(self.stand_ins),
        }


class RunManager:
    """Starts runs on the session, one at a time, and keeps the last :data:`KEEP_RUNS`."""

    def __init__(self, session: Session):
        self.session = session
        self._lock = threading.Lock()  # the session runs one statement at a time
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._closed = False

    def start(self, sql: str) -> Run:
        """Run ``sql`` (one or more statements) in the background; :class:`BusyError` when a
        run is still going."""
        if not sql.strip():
            raise LakeinferError("there is no SQL to run")
        if self._closed:
            raise BusyError("the workspace is stopping")
        if not self._lock.acquire(blocking=False):
            raise BusyError("a statement is already running; wait for it or cancel it")
        run = Run(sql, LiveProgress(self.session.registry.prices_of))
        self._runs[run.id] = run
        while len(self._runs) > KEEP_RUNS:
            self._runs.popitem(last=False)
        thread = threading.Thread(target=self._execute, args=(run,), name=f"ui-run-{run.id}")
        thread.daemon = True
        try:
            thread.start()
        except BaseException:
            self._lock.release()
            raise
        return run

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def cancel(self, run_id: str) -> Run | None:
        run = self._runs.get(run_id)
        if run is not None:
            run.cancel.cancel()
        return run

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Cancel the run still going, if any, and wait (at most ``timeout_s``) until it has
        stopped, so the session can be closed after; later runs are refused."""
        self._closed = True
        for run in list(self._runs.values()):
            if not run.done.is_set():
                run.cancel.cancel()
                run.done.wait(timeout_s)

    def _execute(self, run: Run) -> None:
        started = time.monotonic()
        try:
            with self.session.monitored(run.progress, run.cancel):
                for table, is_query, stats in self.session.run_script(run.sql):
                    run.statements.append(
                        StatementResult(
                            len(run.statements),
                            _statement_text(run.sql, len(run.statements)),
                            is_query,
                            table,
                            stats.summary() if stats is not None else None,
                        )
                    )
                    self._note_stand_ins(run)
                    run.cancel.raise_if_cancelled()
            run.state = "finished"
        except StatementCancelledError as exc:
            run.state, run.error = "cancelled", {"message": str(exc)}
        except Exception as exc:  # shown on the page, as the CLI prints it
            run.state = "failed"
            run.error = error_of(exc, run.sql, len(run.statements))
        finally:
            self._note_stand_ins(run)
            run.progress.stop()
            run.seconds = time.monotonic() - started
            self._lock.release()
            run.done.set()

    def _note_stand_ins(self, run: Run) -> None:
        registry = self.session.registry
        for endpoint in run.progress.snapshot().endpoints:
            model = registry.stand_in_of(endpoint)
            if model is not None:
                run.stand_ins[endpoint] = model


def statement_spans(text: str) -> list[tuple[int, int, int]]:
    """``(chunk start, first token, end)`` offsets of each statement of ``text``, split as the
    session splits it: the chunk starts after the previous ``;`` (positions the parser reports
    are relative to it); the first token skips leading blanks and comments."""
    try:
        tokens = tokenize(text)
    except Exception:
        return [(0, 0, len(text))]
    spans: list[tuple[int, int, int]] = []
    start, first = 0, None
    for token in tokens:
        if token.token_type.name == "SEMICOLON":
            if first is not None:
                spans.append((start, first, token.start))
            start, first = token.end + 1, None
        elif first is None:
            first = token.start
    if first is not None:
        spans.append((start, first, len(text)))
    return spans


def _statement_text(sql: str, index: int) -> str:
    spans = statement_spans(sql)
    if index < len(spans):
        _, first, end = spans[index]
        return sql[first:end].strip()
    return ""


def error_of(exc: Exception, sql: str, index: int) -> dict[str, Any]:
    """The error as the page shows it: message, kind and (when known) line and column in the
    editor's text, which are the positions errors name (the session reads the editor's text
    whole); an error without one points at the start of the statement that failed."""
    message = str(exc) if isinstance(exc, LakeinferError) else f"{type(exc).__name__}: {exc}"
    message = redact(message)
    error: dict[str, Any] = {"message": message, "kind": type(exc).__name__}
    if isinstance(exc, SqlSyntaxError) and exc.line is not None:
        error.update(line=exc.line, column=exc.column or 1)
        return error
    found = _POSITION.search(message)
    if found:
        error.update(line=int(found.group(1)), column=int(found.group(2)))
        return error
    spans = statement_spans(sql)
    if index < len(spans):
        _, first, _ = spans[index]
        error.update(line=_line(sql, first), column=first - (sql.rfind("\n", 0, first) + 1) + 1)
    return error


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
