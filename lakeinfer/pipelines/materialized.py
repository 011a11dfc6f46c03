"""Materialized views: ``CREATE MATERIALIZED VIEW mv AS SELECT ...``, ``REFRESH MATERIALIZED
VIEW mv [FULL]``, ``DROP MATERIALIZED VIEW mv``.

A materialized view is a Delta table holding its query's result, with its definition in the
table's directory (:data:`~lakeinfer.catalog.delta_catalog.MATERIALIZED_VIEW_FILE`). Reading it
reads the table: no model is called. Every write is one commit whose information records the
source tables' versions the result was computed from
(:data:`~lakeinfer.catalog.delta_catalog.REFRESH_KEY`); the query runs pinned to those versions
(``VERSION AS OF``), so the record is exact.

``REFRESH`` is *incremental* when the query allows it (one source table, read by a plain
SELECT / WHERE / projection: no aggregate, join, window, DISTINCT, ORDER BY, LIMIT, subquery or
CTE, no non-deterministic function) and every commit to the source since the last refresh only
appended rows: then only the appended rows are computed (their files, read from the Delta log
between the two versions) and appended to the view in one commit. Otherwise, or with ``FULL``,
the query runs again over the sources and replaces the view's rows in one commit; AI answers
for unchanged requests come from the response cache.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp, parse_one

from lakeinfer.catalog.delta_catalog import (
    MATERIALIZED_VIEW_FILE,
    REFRESH_KEY,
    DeltaCatalog,
    MaterializedViewDefinition,
    Namespace,
    TableName,
    TableOptions,
)
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.errors import AnalysisError, SqlError, TableExistsError
from lakeinfer.pipelines import materialized_syntax as syntax
from lakeinfer.pipelines.errors import StreamingError
from lakeinfer.pipelines.source import DeltaSource, Limits, Position
from lakeinfer.sql import dialect

if TYPE_CHECKING:
    from lakeinfer.engine.statements import StatementExecutor
    from lakeinfer.pipelines.jobs import Job

#: The relation the rows appended to the source are registered as during a refresh.
APPENDED = "__li_mv_appended"
#: Functions whose value changes between runs: a query using one is always fully refreshed.
_NONDETERMINISTIC = tuple(
    getattr(exp, name)
    for name in ("Rand", "Randn", "Uuid", "CurrentTimestamp", "CurrentDate", "CurrentTime")
    if hasattr(exp, name)
)
_NOT_INCREMENTAL = (
    exp.AggFunc,
    exp.Window,
    exp.Join,
    exp.Subquery,
    exp.Lateral,
    exp.Union,
    exp.Intersect,
    exp.Except,
    *_NONDETERMINISTIC,
)


def execute(executor: StatementExecutor, statement: exp.Expression, ai: AiEvaluator) -> pa.Table:
    """Run a materialized view statement; its result rows (empty for DROP)."""
    if isinstance(statement, exp.Drop):
        target = statement.this or statement.args["tables"][0]
        name = executor._table_name(target)
        executor.catalog.drop_materialized_view(name, if_exists=bool(statement.args.get("exists")))
        return pa.table({})
    if isinstance(statement, (exp.Refresh, syntax.RefreshMaterializedView)):
        name = executor._table_name(statement.this)
        return refresh(executor, name, ai, full=bool(statement.args.get("full")))
    schedule = None
    if isinstance(statement, syntax.CreateMaterializedView):
        schedule = statement.args["schedule"]
        statement = statement.this
    assert isinstance(statement, exp.Create)
    return create(executor, statement, ai, schedule)


# -- CREATE -------------------------------------------------------------------------------


def create(
    executor: StatementExecutor,
    statement: exp.Create,
    ai: AiEvaluator,
    schedule: syntax.Schedule | None = None,
) -> pa.Table:
    catalog = executor.catalog
    if isinstance(statement.this, exp.Schema):
        raise AnalysisError(
            "CREATE MATERIALIZED VIEW with a column list is not supported; alias the columns "
            "in the query"
        )
    name = executor._table_name(statement.this)
    options = _options(statement, name)
    query = statement.expression
    if not isinstance(query, exp.Query):
        raise AnalysisError(f"CREATE MATERIALIZED VIEW {name} needs AS SELECT ...")
    if query.find(exp.Stream) is not None:
        raise AnalysisError(
            f"materialized view {name} reads STREAM(...): a materialized view is computed from "
            "tables; use CREATE STREAMING TABLE for a stream"
        )
    replace = bool(statement.args.get("replace"))
    existing = catalog.materialized_view(name)
    if existing is not None:
        if statement.args.get("exists"):
            return _result("NONE", 0)
        if not replace:
            raise TableExistsError(
                f"materialized view {name} already exists (use CREATE OR REPLACE MATERIALIZED "
                "VIEW, or REFRESH MATERIALIZED VIEW to recompute it)"
            )
    elif catalog.exists(name):
        raise TableExistsError(
            f"cannot create materialized view {name}: a table of that name exists"
        )
    elif catalog.view(name) is not None or catalog.function(name) is not None:
        what = "a view" if catalog.view(name) is not None else "a function"
        raise TableExistsError(
            f"cannot create materialized view {name}: {what} of that name exists"
        )
    else:
        catalog.require_schema(name.catalog, name.schema)
    if schedule is not None:
        _check_schedule(schedule, name)
    definition = MaterializedViewDefinition(
        sql=query.sql(dialect="databricks", normalize_functions=False),
        catalog=executor.namespace.catalog,
        schema=executor.namespace.schema,
        schedule=None
        if schedule is None
        else {"cron": schedule.cron, "timezone": schedule.timezone, "text": schedule.to_sql(None)},
    )
    ai.accepts_latency = True  # a table is being written: batch_mode 'auto' applies
    operation = "CREATE OR REPLACE MATERIALIZED VIEW" if existing else "CREATE MATERIALIZED VIEW"
    written = _write_fully(
        executor,
        name,
        definition,
        ai,
        create=existing is None,
        options=options,
        operation=operation,
        definition=(MATERIALIZED_VIEW_FILE, json.dumps(definition.__dict__)),
    )
    if existing is not None:
        catalog.set_materialized_view(name, definition)
    return _result("FULL", written)


def _options(statement: exp.Create, name: TableName) -> TableOptions:
    """``COMMENT``, ``TBLPROPERTIES`` and ``PARTITIONED BY``; anything else is an error."""
    options = TableOptions()
    properties = statement.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.MaterializedProperty):
            continue
        if isinstance(prop, exp.SchemaCommentProperty):
            options.comment = prop.this.name
        elif type(prop) is exp.Property:
            key = prop.this.name if isinstance(prop.this, exp.Expression) else str(prop.this)
            value = prop.args.get("value")
            options.properties[key] = (
                value.name if isinstance(value, exp.Expression) else str(value)
            )
        elif isinstance(prop, exp.PartitionedByProperty):
            columns = prop.this.expressions if isinstance(prop.this, exp.Schema) else [prop.this]
            options.partition_by = [c.name for c in columns]
        else:
            raise AnalysisError(
                f"CREATE MATERIALIZED VIEW {name}: {prop.sql(dialect='databricks')} is not "
                "supported (COMMENT, TBLPROPERTIES, PARTITIONED BY and SCHEDULE are)"
            )
    return options


# -- REFRESH ------------------------------------------------------------------------------


def refresh(
    executor: StatementExecutor, name: TableName, ai: AiEvaluator, *, full: bool
) -> pa.Table:
    """Recompute the materialized view ``name``: incrementally when its query and the source's
    commits since the last refresh allow, else fully (``full`` forces it)."""
    catalog = executor.catalog
    definition = catalog.materialized_view(name)
    ai.accepts_latency = True  # a table is being written: batch_mode 'auto' applies
    if definition is None:
        if catalog.exists(name) or catalog.view(name) is not None:
            raise SqlError(f"{name} is not a materialized view")
        catalog.open(name)  # the unknown-table error, with close matches
    assert definition is not None
    last = catalog.last_refresh(name)
    read_version = catalog.version(name)
    source = None if full or last is None else incremental_source(executor, definition)
    if source is not None:
        appended = _appended_rows(catalog, source, last)
        if appended is not None:
            return _refresh_incrementally(
                executor, name, definition, source, appended, read_version, ai
            )
    written = _write_fully(
        executor,
        name,
        definition,
        ai,
        read_version=read_version,
        operation="REFRESH MATERIALIZED VIEW",
    )
    return _result("FULL", written)


def _write_fully(
    executor: StatementExecutor,
    name: TableName,
    view: MaterializedViewDefinition,
    ai: AiEvaluator,
    **write: Any,
) -> int:
    """Run the view's query pinned to its sources' current versions and overwrite the view's
    table with the rows, recording a full refresh from those versions; ``write``: the rest of
    :meth:`DeltaCatalog.write_batches`'s options. Returns the rows written."""
    pinned, sources = _pinned(executor, view)
    rows = executor.runner.stream(pinned, _namespace(view), ai)
    try:
        _check_unique(rows.schema.names, name)
        return executor.catalog.write_batches(
            name,
            rows.schema,
            rows,
            "overwrite",
            replace_schema=True,
            metadata=_refresh_metadata("FULL", sources),
            **write,
        )
    finally:
        rows.close()


def incremental_source(
    executor: StatementExecutor, definition: MaterializedViewDefinition
) -> TableName | None:
    """The one source table of a query that can be refreshed by appending the rows computed
    from the source's appended rows; None when the query's shape does not allow it."""
    query = parse_one(definition.sql, read=dialect.NAME)
    if not isinstance(query, exp.Select) or query.args.get("with_"):
        return None
    for clause in ("distinct", "group", "having", "qualify", "order", "limit", "offset", "joins"):
        if query.args.get(clause):
            return None
    if query.args.get("with") or any(query.find_all(*_NOT_INCREMENTAL)):
        return None
    if any(isinstance(n, exp.Anonymous) and n.name.lower() == "ai_agg" for n in query.walk()):
        return None
    tables = list(query.find_all(exp.Table))
    if len(tables) != 1 or not tables[0].name or tables[0].args.get("version") is not None:
        return None
    table = tables[0]
    if isinstance(table.this, exp.Func):
        return None
    source = DeltaCatalog.qualify([p.name for p in table.parts], _namespace(definition))
    if executor.find_view(source) is not None or not executor.catalog.exists(source):
        return None
    return source


def _appended_rows(
    catalog: DeltaCatalog, source: TableName, last: dict
) -> tuple[pa.Table, int] | None:
    """The rows committed to ``source`` since the version the last refresh read, when every
    commit since only appended, and the version they reach; None when a commit deleted or
    rewrote rows or changed the schema (or its log is gone)."""
    since = last.get("sources", {}).get(str(source))
    if since is None or catalog.details(source)["partition_columns"]:
        return None  # a partitioned table's files do not hold its partition columns
    reader = DeltaSource(catalog.table_path(source), str(source), since)
    try:
        latest = reader.latest_version()
        if latest == since:
            return reader.arrow_schema().empty_table(), latest
        slices, _ = reader.plan(Position(since + 1), latest, Limits())
        return reader.read(slices, reader.arrow_schema()), latest
    except StreamingError:
        return None


def _refresh_incrementally(
    executor: StatementExecutor,
    name: TableName,
    definition: MaterializedViewDefinition,
    source: TableName,
    appended: tuple[pa.Table, int],
    read_version: int,
    ai: AiEvaluator,
) -> pa.Table:
    catalog = executor.catalog
    rows_added, latest = appended
    query = parse_one(definition.sql, read=dialect.NAME)
    table = next(query.find_all(exp.Table))
    alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
    table.replace(exp.Table(this=exp.to_identifier(APPENDED, quoted=True), alias=alias.copy()))
    target = catalog.schema(name)
    runner = executor.runner
    with runner.registered_table(APPENDED, rows_added):
        rows = runner.stream(query, _namespace(definition), ai)
        try:
            written = catalog.write_batches(
                name,
                target,
                rows,
                "append",
                read_version=read_version,
                operation="REFRESH MATERIALIZED VIEW",
                metadata=_refresh_metadata("INCREMENTAL", {str(source): latest}),
            )
        finally:
            rows.close()
    return _result("INCREMENTAL", written)


# -- schedules ----------------------------------------------------------------------------


def scheduled_jobs(catalog: DeltaCatalog) -> list[Job]:
    """A job for each materialized view of the lakehouse with a ``SCHEDULE``: it runs
    ``REFRESH MATERIALIZED VIEW`` when the schedule says (``lakeinfer jobs serve``)."""
    from lakeinfer.pipelines.jobs import Job, Schedule, Task

    jobs = []
    for catalog_name in catalog.list_catalogs():
        for schema in catalog.list_schemas(catalog_name):
            for table in catalog.list_tables(catalog_name, schema):
                name = TableName(catalog_name, schema, table)
                view = catalog.materialized_view(name)
                if view is None or not view.schedule:
                    continue
                quoted = ".".join(f"`{part}`" for part in (catalog_name, schema, table))
                jobs.append(
                    Job(
                        name=f"refresh {name}",
                        description=f"materialized view {name}: {view.schedule['text']}",
                        tasks=[Task(task_key="refresh", sql=f"REFRESH MATERIALIZED VIEW {quoted}")],
                        schedule=Schedule(
                            cron=view.schedule["cron"], timezone=view.schedule["timezone"]
                        ),
                    )
                )
    return jobs


# -- helpers ------------------------------------------------------------------------------


def _check_schedule(schedule: syntax.Schedule, name: TableName) -> None:
    """A schedule the job scheduler can run: a valid cron expression and time zone."""
    from lakeinfer.pipelines.jobs import Schedule

    try:
        Schedule(cron=schedule.cron, timezone=schedule.timezone)
    except ValueError as exc:
        errors = getattr(exc, "errors", list)()
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in errors) or str(exc)
        raise AnalysisError(
            f"materialized view {name}: {schedule.to_sql(None)} cannot be scheduled: {problems}"
        ) from None


def _namespace(definition: MaterializedViewDefinition) -> Namespace:
    return Namespace(definition.catalog, definition.schema)


def _pinned(
    executor: StatementExecutor, definition: MaterializedViewDefinition
) -> tuple[exp.Expression, dict[str, int]]:
    """The query with each source table read at its current version (``VERSION AS OF``), and
    those versions by table name."""
    query = parse_one(definition.sql, read=dialect.NAME)
    namespace = _namespace(definition)
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    sources: dict[str, int] = {}
    for table in query.find_all(exp.Table):
        if isinstance(table.this, exp.Func) or not table.name:
            continue
        parts = [p.name for p in table.parts]
        if table.args.get("version") is not None or (len(parts) == 1 and parts[0].lower() in ctes):
            continue
        source = DeltaCatalog.qualify(parts, namespace)
        if executor.find_view(source) is not None or not executor.catalog.exists(source):
            continue  # a view's tables are read as they are; an unknown name fails when run
        version = sources.setdefault(str(source), executor.catalog.version(source))
        table.set(
            "version",
            exp.Version(this="VERSION", kind="AS OF", expression=exp.Literal.number(version)),
        )
    return query, sources


def _refresh_metadata(kind: str, sources: dict[str, int]) -> dict[str, str]:
    return {REFRESH_KEY: json.dumps({"type": kind, "sources": sources}, sort_keys=True)}


def _check_unique(columns: list[str], name: TableName) -> None:
    seen: set[str] = set()
    for column in columns:
        if column.lower() in seen:
            raise AnalysisError(
                f"cannot create materialized view {name}: column {column!r} appears twice; "
                "give it an alias"
            )
        seen.add(column.lower())


def _result(kind: str, rows: int) -> pa.Table:
    return pa.table(
        {
            "refresh_type": pa.array([kind], pa.string()),
            "num_inserted_rows": pa.array([rows], pa.int64()),
        }
    )
