"""lakeinfer statements run on Spark: ``lakeinfer sql --spark MASTER`` and
``lakeinfer.connect(spark=...)``.

A statement is parsed and resolved as on the embedded engine (same parser, same catalog, views
expanded, time travel), then each lakehouse table it reads becomes a temporary view of its
rows (only the columns the statement names, only the files its simple filters may keep), its
AI calls are renamed to the registered Spark functions (:mod:`lakeinfer.spark.rewrite`), and
Spark runs it. A write (CREATE TABLE ... AS SELECT, CREATE OR REPLACE, INSERT INTO /
OVERWRITE) is one Delta commit, so the result is the table the embedded engine reads next.
Scans and writes are planned in this process and run on the executors with the ``lakeinfer``
data source's own code (:mod:`lakeinfer.spark.planned` says why).

Statements that only touch the catalog (CREATE SCHEMA, DROP, SHOW, DESCRIBE, USE, SET) run on
the driver as usual; UPDATE, DELETE, MERGE, views and the rest are refused with a message that
says so. The AI usage of a statement is summed from the executors with an accumulator and
recorded in ``system.ai.query_history`` like any other statement.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, TableName, TableRef
from lakeinfer.engine.history import StatementStats, record
from lakeinfer.engine.statements import QUERY_TYPES, StatementResult
from lakeinfer.errors import AnalysisError, TableExistsError
from lakeinfer.spark import planned, tables
from lakeinfer.spark import usage as usage_counters
from lakeinfer.spark.datasource import DEFAULT_MIN_PARTITIONS
from lakeinfer.spark.failures import as_sql_error
from lakeinfer.spark.pushdown import scan_filters
from lakeinfer.spark.rewrite import rewrite_ai_calls
from lakeinfer.sql.dialect import LakeStatement
from lakeinfer.sql.plan import rewrite_tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakeinfer.session import Session
    from lakeinfer.spark.api import SparkAI

#: statements that read or write no rows: they run on the driver, on the embedded engine
LOCAL = (
    exp.Drop,
    exp.Use,
    exp.Describe,
    exp.Show,
    exp.Command,
    exp.Comment,
    exp.Alter,
    LakeStatement,
)
SUPPORTED = (
    "queries, CREATE [OR REPLACE] TABLE ... AS SELECT and INSERT INTO / INSERT OVERWRITE ... SELECT"
)


def is_local(statement: exp.Expression) -> bool:
    """Whether ``statement`` only touches the catalog (and so runs without Spark)."""
    if isinstance(statement, exp.Create):
        kind = (statement.args.get("kind") or "").upper()
        return kind in ("SCHEMA", "DATABASE", "CATALOG") or (
            kind == "TABLE" and statement.expression is None
        )
    return isinstance(statement, LOCAL)


@dataclass
class _Usage:
    """What :func:`lakeinfer.engine.history.record` reads of an evaluator."""

    usage: dict[str, Any] = field(default_factory=dict)
    log_rows: list[dict[str, Any]] = field(default_factory=list)


class SparkStatements:
    """Runs a session's data statements on ``spark`` (a SparkSession, or a master URL to
    start one for, e.g. ``spark://host:7077``; a session started here is stopped by
    :meth:`close`)."""

    def __init__(self, session: Session, spark: SparkSession | str):
        self.session = session
        self.owned = isinstance(spark, str)
        if isinstance(spark, str):
            from lakeinfer.spark.api import session as spark_session

            spark = spark_session(spark, "lakeinfer-sql")
            # a failed statement is reported once, as a lakeinfer error: not also as the
            # executors' ERROR logs, which in local[N] print their stacks in this terminal
            spark.sparkContext.setLogLevel("FATAL")
        self.spark = spark
        self._ai: SparkAI | None = None
        self._cache: bool | None = None

    def runs_locally(self, statement: exp.Expression) -> bool:
        """Whether ``statement`` runs on the driver's embedded engine (catalog only)."""
        return is_local(statement)

    def close(self) -> None:
        if self.owned:
            self.spark.stop()

    @property
    def catalog(self) -> DeltaCatalog:
        return self.session.catalog

    def ai(self) -> SparkAI:
        """lakeinfer's functions in the Spark session, (re)registered when the session's
        ``cache`` setting changed."""
        cache = bool(self.session.settings.get("cache"))
        if self._ai is None or cache != self._cache:
            from lakeinfer.spark.api import register

            self._ai = register(
                self.spark, home=self.session.home, config=self.session.config, cache=cache
            )
            self._cache = cache
        return self._ai

    # -- running -------------------------------------------------------------------------
    def execute(self, statement: exp.Expression) -> StatementResult:
        """Run ``statement`` on Spark; its AI usage goes to the session's history."""
        ai = self.ai()
        endpoints: set[str] = set()
        before = self._usage(ai)
        started, started_at = time.monotonic(), dt.datetime.now(dt.UTC)
        status, error = "FINISHED", None
        progress = _Progress(self.spark, ai, before) if self._show_progress() else None
        try:
            return self._dispatch(statement, ai, endpoints)
        except KeyboardInterrupt:
            status, error = "CANCELLED", "interrupted"
            self.spark.sparkContext.cancelAllJobs()
            raise
        except Exception as exc:
            failure = as_sql_error(exc)
            status, error = "FAILED", str(failure or exc)
            if failure is not None:
                raise failure from None
            raise
        finally:
            if progress is not None:
                progress.stop()
            spent = usage_counters.difference(self._usage(ai), before)
            # a failed task's usage never reaches the accumulator: a statement that calls
            # models is recorded even when none was counted
            if endpoints or spent["requests"] or spent["cache_hits"] or spent["errors"]:
                self._record(statement, spent, endpoints, started, started_at, status, error)

    def _dispatch(
        self, statement: exp.Expression, ai: SparkAI, endpoints: set[str]
    ) -> StatementResult:
        if isinstance(statement, QUERY_TYPES):
            frame = self.dataframe(statement, ai, endpoints)
            return StatementResult(frame.toArrow(), is_query=True)
        if isinstance(statement, exp.Create) and statement.expression is not None:
            kind = (statement.args.get("kind") or "").upper()
            if kind == "TABLE":
                return self._create(statement, ai, endpoints)
        if isinstance(statement, exp.Insert):
            return self._insert(statement, ai, endpoints)
        raise AnalysisError(
            f"{_kind(statement)} is not supported on Spark (it runs {SUPPORTED}); run it "
            "without --spark: the embedded engine works on the same tables"
        )

    def dataframe(
        self, query: exp.Expression, ai: SparkAI, endpoints: set[str] | None = None
    ) -> DataFrame:
        """``query`` as a Spark DataFrame over the lakehouse's tables."""
        for table in query.find_all(exp.Table):
            if isinstance(table.this, exp.Func):
                raise AnalysisError(
                    f"{table.this.sql(dialect='databricks')[:60]} is not supported on Spark; "
                    "read the files into a table first"
                )
        tree, relations = rewrite_tables(query, self.session.namespace, self.catalog.view)
        found = endpoints if endpoints is not None else set()
        calls = 0

        def name_for(call: Any) -> str:
            nonlocal calls
            calls += 1
            if call.endpoint:
                found.add(str(call.endpoint))
            return ai.name_for(call)

        text = rewrite_ai_calls(tree.sql(dialect="databricks"), name_for)
        named = _referenced(tree)
        for relation, ref in relations.items():
            self._view(relation, ref, named, tree, spread=calls > 0)
        return self.spark.sql(text)

    def _view(
        self,
        relation: str,
        ref: TableRef,
        named: set[str] | None,
        tree: exp.Expression,
        spread: bool,
    ) -> None:
        """``relation`` as a temporary view of ``ref``'s rows, planned here
        (:mod:`lakeinfer.spark.planned`): only the columns the statement names (all when it
        selects ``*``), only the files its simple filters may keep. With ``spread`` (the
        statement calls models) the rows are spread over all the executors' cores: a table of
        few files would otherwise be answered by as few Python workers. The scan itself
        spreads them (each task reads its range of the files' rows), so the tasks that read
        are the ones that call the models, and no shuffle stage stands between the two."""
        planned_scan = planned.plan_scan(
            tables.LakeTable(self.catalog, ref.name),
            version=ref.version,
            timestamp=ref.timestamp,
            columns=named,
            filters=lambda schema: scan_filters(tree, relation, schema),
            min_partitions=self._parallelism() if spread else DEFAULT_MIN_PARTITIONS,
            split=spread,
        )
        planned.scan(self.spark, planned_scan).createOrReplaceTempView(relation)

    def _parallelism(self) -> int:
        try:
            return max(int(self.spark.sparkContext.defaultParallelism), 1)
        except Exception:  # Spark Connect sessions have no SparkContext
            return int(self.spark.conf.get("spark.sql.shuffle.partitions", "4") or 4)

    # -- writes --------------------------------------------------------------------------
    def _create(self, statement: exp.Create, ai: SparkAI, endpoints: set[str]) -> StatementResult:
        target = statement.this
        name = _name(target, self.session)
        replace = bool(statement.args.get("replace"))
        _refuse_options(statement, name)
        if self.catalog.exists(name):
            if statement.args.get("exists"):
                return _affected(0)
            if not replace:
                raise TableExistsError(f"table {name} already exists (use CREATE OR REPLACE TABLE)")
        else:
            self.catalog.require_schema(name.catalog, name.schema)
        frame = self.dataframe(statement.expression, ai, endpoints)
        if isinstance(target, exp.Schema) and target.expressions:
            columns = [c.name for c in target.expressions]
            if len(columns) != len(frame.columns):
                raise AnalysisError(
                    f"CREATE TABLE {name} lists {len(columns)} columns but the query gives "
                    f"{len(frame.columns)}"
                )
            frame = frame.toDF(*columns)
        operation = "CREATE OR REPLACE TABLE AS SELECT" if replace else "CREATE TABLE AS SELECT"
        replacing = replace and self.catalog.exists(name)
        rows = planned.write(
            frame,
            tables.LakeTable(self.catalog, name),
            overwrite=replacing,
            create_only=not replacing,
            replace_schema=replacing,
            partition_by=_partitions(statement),
            operation=operation,
        )
        return _affected(rows)

    def _insert(self, statement: exp.Insert, ai: SparkAI, endpoints: set[str]) -> StatementResult:
        target = statement.this
        name = _name(target, self.session)
        schema = self.catalog.schema(name)  # an unknown table fails before the query runs
        frame = self.dataframe(statement.expression, ai, endpoints)
        if isinstance(target, exp.Schema) and target.expressions:
            columns = [c.name for c in target.expressions]
            known = {f.lower(): f for f in schema.names}
            unknown = [c for c in columns if c.lower() not in known]
            if unknown:
                raise AnalysisError(f"column {unknown[0]!r} does not exist in {name}")
        else:
            columns = schema.names
        if len(columns) != len(frame.columns):
            raise AnalysisError(
                f"cannot write to {name}: it takes {len(columns)} columns "
                f"({', '.join(columns)}) but the query gives {len(frame.columns)}"
            )
        overwrite = bool(statement.args.get("overwrite"))
        rows = planned.write(
            frame.toDF(*columns),
            tables.LakeTable(self.catalog, name),
            overwrite=overwrite,
            operation="INSERT OVERWRITE" if overwrite else "INSERT",
        )
        return _affected(rows)

    # -- usage ---------------------------------------------------------------------------
    @staticmethod
    def _usage(ai: SparkAI) -> dict[str, int]:
        accumulator = ai.shipped.usage
        return dict(accumulator.value) if accumulator is not None else usage_counters.zero()

    def _show_progress(self) -> bool:
        chosen = self.session.progress
        return sys.stderr.isatty() if chosen is None else bool(chosen)

    def _record(
        self,
        statement: exp.Expression,
        spent: dict[str, int],
        endpoints: set[str],
        started: float,
        started_at: dt.datetime,
        status: str,
        error: str | None,
    ) -> None:
        text = statement.meta.get("source") or statement.sql(dialect="databricks")
        stats = StatementStats(
            text,
            usage_counters.call_stats(spent),
            time.monotonic() - started,
            spent["cache_hits"],
            status=status,
        )
        self.session.history.append(stats)
        try:
            record(
                self.catalog,
                stats,
                _Usage(dict.fromkeys(endpoints)),  # type: ignore[arg-type]
                started_at,
                error,
            )
        except Exception as exc:  # the user's statement matters more than its bookkeeping
            self.session._notice(f"could not record the query history: {exc}")


class _Progress:
    """One line on stderr while Spark runs: tasks done and requests answered so far."""

    def __init__(self, spark: SparkSession, ai: SparkAI, before: dict[str, int]):
        self.spark = spark
        self.ai = ai
        self.before = before
        self._stop = threading.Event()
        self._shown = False
        self._thread = threading.Thread(target=self._run, name="lakeinfer-spark-progress")
        self._thread.daemon = True
        self._thread.start()

    def _run(self) -> None:
        tracker = self.spark.sparkContext.statusTracker()
        while not self._stop.wait(1.0):
            done = total = 0
            for stage_id in tracker.getActiveStageIds():
                stage = tracker.getStageInfo(stage_id)
                if stage is not None:
                    done += stage.numCompletedTasks
                    total += stage.numTasks
            spent = usage_counters.difference(SparkStatements._usage(self.ai), self.before)
            if total:
                requests = spent["requests"] + spent["cache_hits"]
                print(
                    f"\rspark: {done}/{total} tasks, {requests} requests, {spent['errors']} errors",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
                self._shown = True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._shown:
            print(file=sys.stderr, flush=True)


def _kind(statement: exp.Expression) -> str:
    if isinstance(statement, exp.Create):
        return f"CREATE {(statement.args.get('kind') or '').upper()}".strip()
    return statement.key.upper()


def _name(target: exp.Expression, session: Session) -> TableName:
    if isinstance(target, exp.Schema):
        target = target.this
    if not isinstance(target, exp.Table):
        raise AnalysisError(f"expected a table name, got {target.sql(dialect='databricks')}")
    return DeltaCatalog.qualify([p.name for p in target.parts], session.namespace)


def _refuse_options(statement: exp.Create, name: TableName) -> None:
    properties = statement.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.PartitionedByProperty):
            continue
        raise AnalysisError(
            f"CREATE TABLE {name} ... {prop.sql(dialect='databricks')[:40]} is not supported on "
            "Spark; create the table without it, then set it with lakeinfer sql"
        )


def _partitions(statement: exp.Create) -> list[str]:
    properties = statement.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.PartitionedByProperty):
            schema = prop.this
            items = schema.expressions if isinstance(schema, exp.Schema) else [schema]
            return [item.name for item in items]
    return []


def _referenced(tree: exp.Expression) -> set[str] | None:
    """The lower-cased names the statement uses as columns (None: it selects ``*``, so every
    column is needed)."""
    if any(True for _ in tree.find_all(exp.Star)):
        return None
    names: set[str] = set()
    for column in tree.find_all(exp.Column):
        names.update(part.name.lower() for part in column.parts)
    return names


def _affected(rows: int) -> StatementResult:
    return StatementResult(
        pa.table(
            {
                "num_affected_rows": pa.array([rows], pa.int64()),
                "num_inserted_rows": pa.array([rows], pa.int64()),
            }
        )
    )
