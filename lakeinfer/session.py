"""A lakeinfer session: one lakehouse directory, its endpoints, and a SQL engine.

    >>> import lakeinfer
    >>> with lakeinfer.connect(home="./lakehouse") as session:          # doctest: +SKIP
    ...     session.sql("CREATE TABLE reviews (id INT, text STRING)")
    ...     session.sql("SELECT text, ai_query('my-endpoint', text) FROM reviews").show()

DDL and DML run as soon as :meth:`Session.sql` is called; a query runs on first consumption of
its :class:`Result` (``to_arrow``, ``to_pandas``, ``show``) and its rows are kept, so models are
not called twice for the same result object.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from os import PathLike
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace
from lakeinfer.config import load_config, resolve_home
from lakeinfer.endpoints.registry import EndpointRegistry
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.engine.history import StatementStats, record, statement_stats
from lakeinfer.engine.query import QueryRunner
from lakeinfer.engine.statements import StatementExecutor, StatementResult
from lakeinfer.runtime.cache import ResponseCache, cache_path
from lakeinfer.runtime.loop import BackgroundLoop
from lakeinfer.settings import Settings
from lakeinfer.sql.parse import parse_statements

if TYPE_CHECKING:
    import pandas as pd
    from sqlglot import exp


def _stderr_notice(message: str) -> None:
    print(f"lakeinfer: {message}", file=sys.stderr)


class Result:
    """The outcome of a statement. Queries are evaluated lazily, once."""

    def __init__(
        self, session: Session, statement: exp.Expression | None, table: pa.Table | None = None
    ):
        self._session = session
        self._statement = statement
        self._table = table

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table (runs the query on first call)."""
        if self._table is None:
            assert self._statement is not None
            self._table = self._session._execute(self._statement).table
        return self._table

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()

    def to_pylist(self) -> list[dict[str, Any]]:
        return self.to_arrow().to_pylist()

    @property
    def columns(self) -> list[str]:
        return self.to_arrow().column_names

    def __len__(self) -> int:
        return self.to_arrow().num_rows

    def show(self, n: int = 20, file: Any = None) -> None:
        """Print the first ``n`` rows as a table."""
        from lakeinfer.output import render_table

        render_table(self.to_arrow(), limit=n, file=file)

    def __repr__(self) -> str:
        if self._table is None:
            return "<lakeinfer.Result (not yet evaluated)>"
        return f"<lakeinfer.Result {self._table.num_rows} rows x {self._table.num_columns} columns>"


class Session:
    """SQL over the Delta tables of one lakehouse, with ``ai_query`` and friends.

    ``home``: the lakehouse directory (``--home`` > ``$LAKEINFER_HOME`` > ``./lakehouse``).
    ``notice``: where one-line notices go (default: stderr). ``progress``: force the progress
    bar on or off (default: on when stderr is a terminal). Use as a context manager, or call
    :meth:`close`, to stop background work and release endpoints.
    """

    def __init__(
        self,
        home: str | PathLike[str] | None = None,
        *,
        notice: Callable[[str], None] = _stderr_notice,
        progress: bool | None = None,
    ):
        self.home = resolve_home(home)
        self.config = load_config(self.home)
        self.catalog = DeltaCatalog(self.home)
        self.namespace = Namespace()
        self.settings = Settings(self.config.settings)
        self.registry = EndpointRegistry(self.config, notice)
        self.progress = progress
        self._loop = BackgroundLoop()
        self._con = duckdb.connect(":memory:")
        self._executor = StatementExecutor(
            self.catalog, QueryRunner(self._con, self.catalog), self.namespace, self.settings
        )
        self.history: list[StatementStats] = []
        self._notice = notice
        self._cache: ResponseCache | None = None
        self._closed = False

    # -- public API ----------------------------------------------------------------------
    def sql(self, text: str) -> Result:
        """Run every statement of ``text``; returns the result of the last one.

        Statements before the last run at once. The last runs at once unless it is a query,
        which runs when its result is first consumed.
        """
        statements = parse_statements(text)
        if not statements:
            return Result(self, None, pa.table({}))
        for statement in statements[:-1]:
            self._execute(statement)
        last = statements[-1]
        if self._executor.is_query(last):
            return Result(self, last)
        return Result(self, last, self._execute(last).table)

    def run_script(self, text: str) -> Iterator[tuple[pa.Table, bool, StatementStats | None]]:
        """Run the statements of ``text`` one by one, yielding ``(rows, is_query, ai_stats)``
        for each as soon as it has run (``ai_stats`` is None when no model was called)."""
        for statement in parse_statements(text):
            before = len(self.history)
            result = self._execute(statement)
            stats = self.history[-1] if len(self.history) > before else None
            yield result.table, result.is_query, stats

    def table(self, name: str) -> Result:
        """All rows of a table, e.g. ``session.table("main.default.reviews")``."""
        qualified = DeltaCatalog.qualify(name.split("."), self.namespace)
        return Result(self, None, self.catalog.dataset(qualified).to_table())

    @property
    def last_stats(self) -> StatementStats | None:
        """Cost of the last statement that called a model."""
        return self.history[-1] if self.history else None

    def close(self) -> None:
        """Release endpoint connections and the background loop; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.run(self.registry.aclose())
        finally:
            self._loop.close()
            self._con.close()
            if self._cache is not None:
                self._cache.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------
    def _execute(self, statement: exp.Expression) -> StatementResult:
        ai = AiEvaluator(
            self.registry,
            self._loop,
            self.settings,
            cache=self._response_cache,
            progress=self.progress,
        )
        started, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
        status, error = "FINISHED", None
        try:
            return self._executor.execute(statement, ai)
        except KeyboardInterrupt:
            status, error = "CANCELLED", "interrupted"
            raise
        except Exception as exc:
            status, error = "FAILED", str(exc)
            raise
        finally:
            ai.close()
            if ai.usage:
                self._record(statement, ai, time.monotonic() - started, started_at, status, error)

    def _record(
        self,
        statement: exp.Expression,
        ai: AiEvaluator,
        seconds: float,
        started_at: dt.datetime,
        status: str,
        error: str | None,
    ) -> None:
        text = statement.meta.get("source") or statement.sql(dialect="databricks")
        stats = statement_stats(text, ai, self.registry, seconds, status)
        self.history.append(stats)
        try:
            record(self.catalog, stats, ai, started_at, error)
        except Exception as exc:  # the user's statement matters more than its bookkeeping
            self._notice(f"could not record the query history: {exc}")

    def _response_cache(self) -> ResponseCache:
        if self._cache is None:
            self._cache = ResponseCache(cache_path(self.home))
        return self._cache


def connect(home: str | PathLike[str] | None = None, **options: Any) -> Session:
    """Open a :class:`Session` on a lakehouse directory (created on first write)."""
    return Session(home, **options)
