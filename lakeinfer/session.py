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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import import_module
from os import PathLike
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace
from lakeinfer.endpoints.registry import EndpointRegistry
from lakeinfer.engine import extensions, sandbox
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.engine.batch_records import BatchRecords
from lakeinfer.engine.history import StatementStats, record, statement_stats
from lakeinfer.engine.query import QueryRunner
from lakeinfer.engine.statements import StatementExecutor, StatementResult
from lakeinfer.errors import ConfigError, StatementCancelledError, short_traceback
from lakeinfer.home import config_path, resolve_home
from lakeinfer.runtime.cache import ResponseCache, cache_path
from lakeinfer.runtime.cancel import CancelToken
from lakeinfer.runtime.loop import BackgroundLoop
from lakeinfer.runtime.progress import ProgressObserver
from lakeinfer.settings import Settings
from lakeinfer.sql.parse import Parameters, bind_parameters, parse_statements

if TYPE_CHECKING:
    import pandas as pd
    from sqlglot import exp

    from lakeinfer.config import LakeinferConfig


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

    @short_traceback
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

    @short_traceback
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
    bar on or off (default: on when stderr is a terminal). ``sandboxed``: for SQL that
    arrives over the network (the web workspace): files are read only under the lakehouse and
    ``allowed_directories``, and no extension is installed or loaded (see
    :mod:`lakeinfer.engine.sandbox`). ``spark``: a SparkSession (or a master URL) to run
    queries, CTAS and INSERT on (see :mod:`lakeinfer.spark.statement`). Use as a context
    manager, or call :meth:`close`, to stop background work and release endpoints.
    """

    def __init__(
        self,
        home: str | PathLike[str] | None = None,
        *,
        notice: Callable[[str], None] = _stderr_notice,
        progress: bool | None = None,
        sandboxed: bool = False,
        allowed_directories: Iterable[str | PathLike[str]] = (),
        spark: Any = None,
    ):
        extensions.load_builtins()
        self.home = resolve_home(home)
        # a config.toml is read (and a broken one refused) now; without one, the empty
        # configuration is made on first use, so a session that calls no model needs no
        # validation library
        self._config: LakeinferConfig | None = None
        if config_path(self.home).exists():
            from lakeinfer.config import load_config

            self._config = load_config(self.home)
        self.catalog = DeltaCatalog(self.home)
        self.namespace = Namespace()
        self.settings = Settings(self._config.settings if self._config is not None else None)
        self.registry = EndpointRegistry(lambda: self.config, notice)
        self.progress = progress
        self._loop = BackgroundLoop()
        #: where sandboxed SQL may read files (None: not sandboxed)
        self.sandbox = sandbox.SqlSandbox.of(self.home, allowed_directories) if sandboxed else None
        self._con, self._close_con = sandbox.connect(self.sandbox)
        self._executor = StatementExecutor(
            self.catalog,
            QueryRunner(self._con, self.catalog, sandbox=self.sandbox),
            self.namespace,
            self.settings,
        )
        sandbox.lock(self._con, self.sandbox)
        self.history: list[StatementStats] = []
        self._notice = notice
        self._cache: ResponseCache | None = None
        self._closed = False
        self._observer: ProgressObserver | None = None
        self._cancel: CancelToken | None = None
        self._spark: Any = None
        if spark is not None:
            # the Spark runner is a feature above the session: loaded by name when asked for
            statements = import_module("lakeinfer.spark.statement")
            self._spark = statements.SparkStatements(self, spark)

    # -- public API ----------------------------------------------------------------------
    @short_traceback
    def sql(self, text: str, args: Parameters | None = None) -> Result:
        """Run every statement of ``text``; returns the result of the last one.

        Statements before the last run at once. The last runs at once unless it is a query,
        which runs when its result is first consumed. ``args`` binds parameter markers:
        a dict for ``:name`` markers, a list for ``?`` markers (as PySpark's ``spark.sql``).
        """
        statements = parse_statements(text)
        bind_parameters(statements, args)
        if not statements:
            return Result(self, None, pa.table({}))
        for statement in statements[:-1]:
            self._execute(statement)
        last = statements[-1]
        if self._executor.is_query(last):
            return Result(self, last)
        return Result(self, last, self._execute(last).table)

    def run_script(
        self, text: str, args: Parameters | None = None
    ) -> Iterator[tuple[pa.Table, bool, StatementStats | None]]:
        """Run the statements of ``text`` one by one, yielding ``(rows, is_query, ai_stats)``
        for each as soon as it has run (``ai_stats`` is None when no model was called).
        ``args`` binds parameter markers as in :meth:`sql`."""
        statements = parse_statements(text)
        bind_parameters(statements, args)
        for statement in statements:
            before = len(self.history)
            result = self._execute(statement)
            stats = self.history[-1] if len(self.history) > before else None
            yield result.table, result.is_query, stats

    @contextmanager
    def monitored(
        self, observer: ProgressObserver | None = None, cancel: CancelToken | None = None
    ) -> Iterator[None]:
        """Within the block, statements report their model calls to ``observer`` and stop
        (raising :class:`~lakeinfer.errors.StatementCancelledError`, writing nothing) once
        ``cancel`` is set: model calls are cancelled and a running DuckDB query interrupted.
        A session runs one statement at a time: callers on several threads must serialise
        their use of it."""
        previous = self._observer, self._cancel
        self._observer, self._cancel = observer, cancel
        unregister = cancel.on_cancel(self._con.interrupt) if cancel is not None else None
        try:
            yield
        finally:
            if unregister is not None:
                unregister()
            self._observer, self._cancel = previous

    @short_traceback
    def table(self, name: str) -> Result:
        """All rows of a table, e.g. ``session.table("main.default.reviews")``."""
        qualified = DeltaCatalog.qualify(name.split("."), self.namespace)
        return Result(self, None, self.catalog.dataset(qualified).to_table())

    def table_exists(self, name: str) -> bool:
        """Whether ``name`` (``t``, ``s.t`` or ``c.s.t``) is a table of the lakehouse."""
        return self.catalog.exists(DeltaCatalog.qualify(name.split("."), self.namespace))

    @property
    def readStream(self) -> Any:  # noqa: N802 (PySpark's name)
        """Read a Delta table incrementally: ``session.readStream.table("c.s.t")`` (a
        ``DataStreamReader`` of :mod:`lakeinfer.pipelines.streaming`, which the streaming
        feature registers with the engine's extensions)."""
        factory = extensions.EXTENSIONS.stream_reader()
        if factory is None:
            raise ConfigError("readStream: no streaming feature is registered")
        return factory(self)

    read_stream = readStream

    def register_function(
        self,
        name: str,
        fn: Callable[[Any], Any],
        *,
        return_type: str | None = None,
        batched: bool = False,
        task: str = "custom",
    ) -> None:
        """Serve the Python function ``fn`` as endpoint ``name`` in this session.

        ``ai_query(name, request)`` calls ``fn(value)`` once per distinct request; a
        ``named_struct(...)`` request arrives as a dict. With ``batched=True``, ``fn`` gets a
        list of requests and returns a list of answers in the same order. ``return_type``
        (Databricks DDL, e.g. ``'DOUBLE'`` or ``'STRUCT<label: STRING, score: FLOAT>'``) is
        the type of the answers when the query gives no ``returnType``; without either, the
        query is refused. An exception raised by ``fn`` is that row's error.
        """
        from lakeinfer.config import validate_endpoint_name
        from lakeinfer.endpoints.python_fn import FunctionProvider

        validate_endpoint_name(name)
        provider = FunctionProvider(name, fn, return_type=return_type, batched=batched, task=task)
        self.registry.register(provider)

    @property
    def config(self) -> LakeinferConfig:
        """The lakehouse's ``config.toml`` as read when the session opened (empty when there
        was none)."""
        if self._config is None:
            from lakeinfer.config import LakeinferConfig

            self._config = LakeinferConfig()
        return self._config

    @property
    def loop(self) -> BackgroundLoop:
        """The background event loop the session's providers run on."""
        return self._loop

    @property
    def last_stats(self) -> StatementStats | None:
        """Cost of the last statement that called a model."""
        return self.history[-1] if self.history else None

    def close(self) -> None:
        """Release endpoint connections and the background loop; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._spark is not None:
            self._spark.close()
        try:
            if self.registry.holds_providers:
                self._loop.run(self.registry.aclose())
        finally:
            self._loop.close()
            self._close_con()
            if self._cache is not None:
                self._cache.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------
    def _execute(self, statement: exp.Expression) -> StatementResult:
        if self._spark is not None and not self._spark.runs_locally(statement):
            return self._spark.execute(statement)
        ai = AiEvaluator(
            self.registry,
            self._loop,
            self.settings,
            cache=self._response_cache,
            progress=self.progress,
            observer=self._observer,
            cancel=self._cancel,
            batches=BatchRecords(self.home),
        )
        ai.sql = statement.meta.get("source") or statement.sql(dialect="databricks")
        started, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
        status, error = "FINISHED", None
        try:
            return self._executor.execute(statement, ai)
        except KeyboardInterrupt:
            status, error = "CANCELLED", "interrupted"
            raise
        except StatementCancelledError:
            status, error = "CANCELLED", "cancelled"
            raise
        except Exception as exc:
            if self._cancel is not None and self._cancel.cancelled:  # e.g. DuckDB interrupted
                status, error = "CANCELLED", "cancelled"
                raise StatementCancelledError() from None
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
