"""Executes one parsed statement: DDL, DML, catalog commands and queries.

Every statement that writes a table streams its query's rows (batch by batch, AI calls
answered per batch) into a single Delta commit made after the last batch, so a statement that
fails (syntax, endpoint error under ``failOnError => true``, schema mismatch) leaves the
target's version and history unchanged, and a failed CTAS leaves no table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import (
    COMMENT_KEY,
    OPERATION_KEY,
    DeltaCatalog,
    FunctionDefinition,
    MaterializedViewDefinition,
    Namespace,
    TableName,
    TableOptions,
    ViewDefinition,
)
from lakeinfer.engine import dml, sql_functions
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.engine.batches import RowStream, table_to_batch
from lakeinfer.engine.extensions import EXTENSIONS
from lakeinfer.engine.query import QueryRunner
from lakeinfer.engine.vacuum import vacuum
from lakeinfer.errors import AnalysisError, SqlError, TableExistsError
from lakeinfer.settings import Settings
from lakeinfer.sql import dialect
from lakeinfer.sql.function_list import matching, show_functions
from lakeinfer.sql.parse import parse_statements, position_of
from lakeinfer.sql.types import CAST_ERRORS, arrow_to_ddl, ddl_to_arrow

QUERY_TYPES = (exp.Query, exp.Values)


@dataclass
class StatementResult:
    """What a statement returns: a table (possibly empty) and whether it is a query's rows."""

    table: pa.Table
    is_query: bool = False


def _empty() -> StatementResult:
    return StatementResult(pa.table({}))


class StatementExecutor:
    """Dispatches statements; keeps the session's namespace (``USE``)."""

    def __init__(
        self, catalog: DeltaCatalog, runner: QueryRunner, namespace: Namespace, settings: Settings
    ):
        self.catalog = catalog
        self.runner = runner
        self.namespace = namespace
        self.settings = settings
        #: session-scoped views (CREATE TEMPORARY VIEW), by qualified name
        self.temp_views: dict[TableName, ViewDefinition] = {}
        #: session-scoped SQL functions (CREATE TEMPORARY FUNCTION), by lower-case name
        self.temp_functions: dict[str, FunctionDefinition] = {}
        self.functions = sql_functions.FunctionInliner(catalog, self.temp_functions)
        runner.views = self.find_view
        runner.functions = self.functions.inline

    def find_view(self, name: TableName) -> ViewDefinition | None:
        """A temporary view of this session, else a stored view, else None."""
        return self.temp_views.get(name) or self.catalog.view(name)

    def is_query(self, statement: exp.Expression) -> bool:
        return isinstance(statement, QUERY_TYPES)

    def execute(self, statement: exp.Expression, ai: AiEvaluator) -> StatementResult:
        if isinstance(statement, QUERY_TYPES):
            return StatementResult(self.runner.run(statement, self.namespace, ai), is_query=True)
        extension = EXTENSIONS.statement_kind(statement)
        if extension is not None:
            return extension.execute(self, statement, ai)
        if isinstance(statement, exp.Create):
            return self._create(statement, ai)
        if isinstance(statement, exp.Insert):
            return self._insert(statement, ai)
        if isinstance(statement, exp.Update):
            return self._update(statement, ai)
        if isinstance(statement, exp.Delete):
            return self._delete(statement, ai)
        if isinstance(statement, exp.Merge):
            return self._merge(statement, ai)
        if isinstance(statement, exp.Comment):
            return self._comment(statement)
        if isinstance(statement, exp.Alter):
            return self._alter(statement)
        if isinstance(statement, exp.Drop):
            return self._drop(statement)
        if isinstance(statement, exp.Use):
            return self._use(statement)
        if isinstance(statement, exp.Describe):
            return self._describe(statement)
        if isinstance(statement, dialect.LakeStatement):
            return self._lake_statement(statement, ai)
        return self._from_packages(statement, ai)

    # -- names ---------------------------------------------------------------------------
    def _table_name(self, table: exp.Expression) -> TableName:
        if isinstance(table, exp.Schema):
            table = table.this
        if not isinstance(table, exp.Table):
            raise AnalysisError(f"expected a table name, got {table.sql(dialect='databricks')}")
        return DeltaCatalog.qualify([p.name for p in table.parts], self.namespace)

    def _schema_name(self, table: exp.Table) -> tuple[str, str]:
        parts = [p.name.lower() for p in table.parts]
        if len(parts) == 1:
            return self.namespace.catalog, parts[0]
        if len(parts) == 2:
            return parts[0], parts[1]
        raise AnalysisError(f"invalid schema name {'.'.join(parts)!r} (use catalog.schema)")

    # -- CREATE --------------------------------------------------------------------------
    def _create(self, statement: exp.Create, ai: AiEvaluator) -> StatementResult:
        kind = (statement.args.get("kind") or "").upper()
        if_not_exists = bool(statement.args.get("exists"))
        replace = bool(statement.args.get("replace"))
        if kind in ("SCHEMA", "DATABASE"):
            catalog, schema = self._schema_name(statement.this)
            self.catalog.create_schema(catalog, schema, if_not_exists=if_not_exists)
            return _empty()
        if kind == "VIEW":
            return self._create_view(statement, ai)
        if kind == "FUNCTION":
            return self._create_function(statement, ai)
        if kind != "TABLE":
            raise AnalysisError(f"CREATE {kind} is not supported")
        name = self._table_name(statement.this)
        if replace and self.catalog.materialized_view(name) is not None:
            raise AnalysisError(
                f"{name} is a materialized view: replace it with CREATE OR REPLACE MATERIALIZED "
                "VIEW, or drop it with DROP MATERIALIZED VIEW first"
            )
        options = _table_options(statement)
        query = statement.expression
        if query is None:
            schema = _schema_from_columns(statement.this)
            self.catalog.create_table(
                name, schema, if_not_exists=if_not_exists, replace=replace, options=options
            )
            return _empty()
        # check before paying for the query; the commit checks again (create means create)
        if self.catalog.exists(name):
            if if_not_exists:
                return _empty()
            if not replace:
                raise TableExistsError(f"table {name} already exists (use CREATE OR REPLACE TABLE)")
        else:
            self.catalog.require_schema(name.catalog, name.schema)
        ai.accepts_latency = True  # a table is being written: batch_mode 'auto' applies
        rows = self.runner.stream(query, self.namespace, ai)
        try:
            _check_unique_names(rows.schema.names, name)
            if isinstance(statement.this, exp.Schema):
                rows = _aligned(rows, _schema_from_columns(statement.this), name, by_name=False)
        except BaseException:
            rows.close()
            raise
        try:
            written = self.catalog.write_batches(
                name,
                rows.schema,
                rows,
                "overwrite",
                create=not replace,
                replace_schema=True,
                options=options,
                operation="CREATE OR REPLACE TABLE AS SELECT"
                if replace
                else "CREATE TABLE AS SELECT",
            )
        except TableExistsError:
            if if_not_exists and self.catalog.exists(name):
                return _empty()  # another session created it while the query ran
            raise
        finally:
            rows.close()  # frees the DuckDB connection also when the write failed
        return _affected(written, inserted=written)

    def _create_view(self, statement: exp.Create, ai: AiEvaluator) -> StatementResult:
        target = statement.this
        if isinstance(target, exp.Schema):
            raise AnalysisError(
                "CREATE VIEW with a column list is not supported; alias the columns"
            )
        name = self._table_name(target)
        query = statement.expression
        if query is None:
            raise AnalysisError(f"CREATE VIEW {name} needs AS SELECT ...")
        properties = statement.args.get("properties")
        temporary = properties is not None and any(
            isinstance(p, exp.TemporaryProperty) for p in properties.expressions
        )
        options = _table_options(statement)
        view = ViewDefinition(
            sql=query.sql(dialect="databricks"),
            catalog=self.namespace.catalog,
            schema=self.namespace.schema,
            comment=options.comment,
            properties=options.properties,
        )
        # resolve now, so a view over a missing table or column fails at CREATE, as on Databricks
        self.runner.describe(query, self.namespace, ai)
        if temporary:
            if name in self.temp_views and not statement.args.get("replace"):
                if statement.args.get("exists"):
                    return _empty()
                raise SqlError(f"temporary view {name.table} already exists")
            self.temp_views[name] = view
            return _empty()
        self.catalog.create_view(
            name,
            view,
            replace=bool(statement.args.get("replace")),
            if_not_exists=bool(statement.args.get("exists")),
        )
        return _empty()

    def _create_function(self, statement: exp.Create, ai: AiEvaluator) -> StatementResult:
        parts, temporary, function = sql_functions.definition(statement, self.namespace)
        name = None if temporary else self.functions.name_of(parts, self.namespace)
        shown = parts[0].lower() if name is None else str(name)
        # resolve the body now, as it will be called (an unknown function or column, or a
        # cycle through other functions, fails at CREATE); derive the return type if needed
        probe = exp.select(exp.alias_(sql_functions.probe(function), "result"))
        home = Namespace(function.catalog, function.schema)
        with self.functions.defining(shown, function):
            result = self.runner.describe(probe, home, ai).field(0).type
        if not function.returns:
            function = sql_functions.with_return_type(function, arrow_to_ddl(result))
        replace = bool(statement.args.get("replace"))
        if_not_exists = bool(statement.args.get("exists"))
        if name is None:
            if shown in self.temp_functions and not replace:
                if if_not_exists:
                    return _empty()
                raise SqlError(f"temporary function {shown} already exists")
            self.temp_functions[shown] = function
            return _empty()
        self.catalog.create_function(name, function, replace=replace, if_not_exists=if_not_exists)
        return _empty()

    # -- INSERT --------------------------------------------------------------------------
    def _insert(self, statement: exp.Insert, ai: AiEvaluator) -> StatementResult:
        target = statement.this
        name = self._writable(self._table_name(target))
        schema = self.catalog.schema(name)  # fails early on an unknown table
        if statement.args.get("where") is not None:
            raise AnalysisError(
                f"INSERT INTO {name} REPLACE WHERE is not supported; use MERGE, or DELETE "
                "then INSERT"
            )
        ai.accepts_latency = True  # a table is being written: batch_mode 'auto' applies
        rows = self.runner.stream(statement.expression, self.namespace, ai)
        try:
            if isinstance(target, exp.Schema) and target.expressions:
                columns = [c.name.lower() for c in target.expressions]
                unknown = [c for c in columns if c not in {f.name.lower() for f in schema}]
                if unknown:
                    raise AnalysisError(f"column {unknown[0]!r} does not exist in {name}")
                if len(columns) != len(rows.schema):
                    raise AnalysisError(
                        f"INSERT INTO {name} lists {len(columns)} columns but the query gives "
                        f"{len(rows.schema)}"
                    )
                renamed = pa.schema(
                    [f.with_name(c) for f, c in zip(rows.schema, columns, strict=True)]
                )
                rows = rows.map(
                    renamed, lambda b: pa.RecordBatch.from_arrays(b.columns, schema=renamed)
                )
                rows = _aligned(rows, schema, name, by_name=True)
            elif statement.args.get("by_name"):
                known = {f.name.lower() for f in schema}
                unknown = [c for c in rows.schema.names if c.lower() not in known]
                if unknown:
                    raise AnalysisError(f"column {unknown[0]!r} does not exist in {name}")
                rows = _aligned(rows, schema, name, by_name=True)
            else:
                rows = _aligned(rows, schema, name, by_name=False)
        except BaseException:
            rows.close()
            raise
        overwrite = bool(statement.args.get("overwrite"))
        try:
            written = self.catalog.write_batches(
                name,
                rows.schema,
                rows,
                "overwrite" if overwrite else "append",
                operation="INSERT OVERWRITE" if overwrite else "INSERT",
            )
        finally:
            rows.close()
        return _affected(written, inserted=written)

    def _writable(self, name: TableName) -> TableName:
        """``name``, unless it is a materialized view (its rows come from its query)."""
        if self.catalog.materialized_view(name) is not None:
            raise AnalysisError(
                f"{name} is a materialized view: its rows come from its query; change its "
                "sources and run REFRESH MATERIALIZED VIEW"
            )
        return name

    # -- UPDATE / DELETE / MERGE -----------------------------------------------------------
    def _update(self, statement: exp.Update, ai: AiEvaluator) -> StatementResult:
        name = self._writable(self._table_name(statement.this))
        schema = self.catalog.schema(name)
        version = self.catalog.version(name)
        changed_query, unchanged_query = dml.update_queries(statement, schema.names, str(name))
        # AI calls in SET run only for the rows WHERE selects (the staged plan)
        changed = _align(
            self.runner.run(changed_query, self.namespace, ai), schema, name, by_name=False
        )
        if not changed.num_rows:
            return _counts(num_affected_rows=0)
        unchanged = _align(
            self.runner.run(unchanged_query, self.namespace, ai), schema, name, by_name=False
        )
        data = pa.concat_tables([unchanged, changed])
        self.catalog.write(name, data, "overwrite", read_version=version, operation="UPDATE")
        return _counts(num_affected_rows=changed.num_rows)

    def _delete(self, statement: exp.Delete, ai: AiEvaluator) -> StatementResult:
        import pyarrow.compute as pc  # loaded on use: it is slow to import

        name = self._writable(self._table_name(statement.this))
        schema = self.catalog.schema(name)
        version = self.catalog.version(name)
        query = dml.delete_query(statement, schema.names)
        data, hits = dml.split_hits(self.runner.run(query, self.namespace, ai))
        deleted = int(pc.sum(hits).as_py() or 0)
        if deleted:
            kept = _align(data.filter(pc.invert(hits)), schema, name, by_name=False)
            self.catalog.write(name, kept, "overwrite", read_version=version, operation="DELETE")
        return _counts(num_affected_rows=deleted)

    def _merge(self, statement: exp.Merge, ai: AiEvaluator) -> StatementResult:
        name = self._writable(self._table_name(statement.this))
        schema = self.catalog.schema(name)
        version = self.catalog.version(name)
        using = statement.args["using"]
        if isinstance(using, exp.Subquery):
            source_query = using.this
        else:
            bare = using.copy()
            bare.set("alias", None)
            source_query = exp.select("*").from_(bare)
        source = self.runner.run(source_query, self.namespace, ai)
        plan = dml.merge_plan(statement, schema.names, source.column_names, str(name))
        with self.runner.registered_table(dml.MERGE_SOURCE, source):
            merged = self.runner.run(plan.query, self.namespace, ai)
        data, counts = dml.finish_merge(plan, merged, str(name))
        data = _align(data, schema, name, by_name=False)
        if any(counts.values()):
            self.catalog.write(name, data, "overwrite", read_version=version, operation="MERGE")
        return _counts(
            num_affected_rows=sum(counts.values()),
            num_updated_rows=counts["update"],
            num_deleted_rows=counts["delete"],
            num_inserted_rows=counts["insert"],
        )

    # -- COMMENT ON / ALTER TABLE ----------------------------------------------------------
    def _comment(self, statement: exp.Comment) -> StatementResult:
        kind = (statement.args.get("kind") or "").upper()
        comment = statement.expression
        text = None if isinstance(comment, exp.Null) else comment.name
        if kind == "COLUMN" and isinstance(statement.this, exp.Column) and statement.this.table:
            table = exp.Table(**{k: statement.this.args.get(k) for k in ("catalog", "db")})
            table.set("this", statement.this.args["table"])
            self.catalog.set_column_comment(self._table_name(table), statement.this.name, text)
            return _empty()
        if kind != "TABLE":
            raise AnalysisError(
                f"COMMENT ON {kind} is not supported (COMMENT ON TABLE and COLUMN are)"
            )
        self.catalog.set_comment(self._table_name(statement.this), text)
        return _empty()

    def _alter(self, statement: exp.Alter) -> StatementResult:
        kind = (statement.args.get("kind") or "").upper()
        if kind != "TABLE":
            raise AnalysisError(f"ALTER {kind} is not supported")
        name = self._table_name(statement.this)
        for action in statement.args.get("actions") or []:
            if isinstance(action, exp.AlterSet):
                properties = {}
                for group in action.expressions:
                    if isinstance(group, exp.Properties):
                        properties.update(_properties(group.expressions))
                if not properties:
                    raise AnalysisError(
                        f"unsupported ALTER TABLE: {statement.sql(dialect='databricks')[:80]}"
                    )
                self.catalog.set_properties(name, properties)
            elif isinstance(action, exp.AlterColumn) and action.args.get("comment") is not None:
                comment = action.args["comment"]
                text = None if isinstance(comment, exp.Null) else comment.name
                self.catalog.set_column_comment(name, action.name, text)
            else:
                raise AnalysisError(
                    f"unsupported ALTER TABLE action: {action.sql(dialect='databricks')[:80]} "
                    "(SET TBLPROPERTIES is supported)"
                )
        return _empty()

    # -- DROP / USE / DESCRIBE -------------------------------------------------------------
    def _drop(self, statement: exp.Drop) -> StatementResult:
        kind = (statement.args.get("kind") or "").upper()
        if_exists = bool(statement.args.get("exists"))
        target = statement.this or (statement.args.get("tables") or [None])[0]
        if target is None:
            raise AnalysisError("DROP needs a name")
        if kind == "TABLE":
            self.catalog.drop_table(self._table_name(target), if_exists=if_exists)
        elif kind == "VIEW":
            name = self._table_name(target)
            if self.temp_views.pop(name, None) is None:
                self.catalog.drop_view(name, if_exists=if_exists)
        elif kind == "FUNCTION":
            self._drop_function(target, bool(statement.args.get("temporary")), if_exists)
        elif kind in ("SCHEMA", "DATABASE"):
            catalog, schema = self._schema_name(target)
            self.catalog.drop_schema(
                catalog, schema, if_exists=if_exists, cascade=bool(statement.args.get("cascade"))
            )
        else:
            raise AnalysisError(f"DROP {kind} is not supported")
        return _empty()

    def _drop_function(self, target: exp.Expression, temporary: bool, if_exists: bool) -> None:
        parts = [p.name for p in target.parts]
        shown = ".".join(parts)
        if temporary:
            if len(parts) > 1 or self.temp_functions.pop(parts[0].lower(), None) is None:
                if not if_exists:
                    raise SqlError(f"temporary function not found: {shown}")
            return
        name = self.functions.name_of(parts, self.namespace)
        if (
            not if_exists
            and len(parts) == 1
            and parts[0].lower() in self.temp_functions
            and self.catalog.function(name) is None
        ):
            raise SqlError(f"{shown} is a temporary function (use DROP TEMPORARY FUNCTION)")
        self.catalog.drop_function(name, if_exists=if_exists)

    def _describe_function(self, target: exp.Expression, extended: bool) -> StatementResult:
        parts = [p.name for p in target.parts]
        found = self.functions.find(parts, self.namespace)
        if found is not None:
            rows = sql_functions.describe_rows(found[0], found[1], extended)
        elif (
            len(parts) == 1 and parts[0].lower() in show_functions("SYSTEM")["function"].to_pylist()
        ):
            rows = [f"Function: {parts[0].lower()}", "Class: built-in (see docs/functions.md)"]
        else:
            raise SqlError(f"function not found: {'.'.join(parts)}{position_of(target)}")
        return StatementResult(pa.table({"function_desc": pa.array(rows, pa.string())}), True)

    def _user_functions(self) -> list[str]:
        """The SQL functions ``SHOW USER FUNCTIONS`` lists: temporary ones, then those of the
        current schema (qualified)."""
        catalog, schema = self.namespace.catalog, self.namespace.schema
        stored = [f"{catalog}.{schema}.{f}" for f in self.catalog.list_functions(catalog, schema)]
        return sorted(self.temp_functions) + stored

    def _use(self, statement: exp.Use) -> StatementResult:
        kind = statement.args.get("kind")
        kind = kind.name.upper() if kind is not None else ""
        parts = [p.name.lower() for p in statement.this.parts]
        if kind == "CATALOG":
            if len(parts) != 1:
                raise AnalysisError("USE CATALOG takes one name")
            if not self.catalog.catalog_exists(parts[0]):
                raise SqlError(f"catalog not found: {parts[0]}")
            self.namespace.catalog, self.namespace.schema = parts[0], "default"
            return _empty()
        catalog, schema = (self.namespace.catalog, parts[0]) if len(parts) == 1 else parts[:2]
        self.catalog.require_schema(catalog, schema)
        self.namespace.catalog, self.namespace.schema = catalog, schema
        return _empty()

    def _describe(self, statement: exp.Describe) -> StatementResult:
        style = (statement.args.get("style") or "").upper()
        target = statement.this
        kind = (statement.args.get("kind") or "").upper()
        if kind == "FUNCTION":
            return self._describe_function(target, style == "EXTENDED")
        if kind in ("SCHEMA", "DATABASE"):
            return self._describe_schema(target)
        if isinstance(target, QUERY_TYPES):  # DESCRIBE QUERY / DESCRIBE SELECT ...
            return self._describe_columns(self.runner.describe(target, self.namespace), [])
        name = self._table_name(target)
        if style == "HISTORY":
            return self._history(name)
        view = self.find_view(name)
        if view is not None:
            (query,) = parse_statements(view.sql)
            schema = self.runner.describe(query, _namespace_of(view))
            extra = [("Type", "VIEW"), ("View Text", view.sql), ("Comment", view.comment or "")]
            return self._describe_columns(
                schema, extra if style in ("EXTENDED", "FORMATTED") else []
            )
        schema = self.catalog.schema(name)
        extra = []
        if style in ("EXTENDED", "FORMATTED"):
            details = self.catalog.details(name)
            materialized = self.catalog.materialized_view(name)
            extra = [
                ("Catalog", name.catalog),
                ("Database", name.schema),
                ("Table", name.table),
                ("Type", "MANAGED" if materialized is None else "MATERIALIZED_VIEW"),
                ("Provider", "delta"),
                ("Location", details["location"]),
                ("Version", str(details["version"])),
                ("Comment", details["comment"] or ""),
                ("Partition Columns", ", ".join(details["partition_columns"])),
                (
                    "Table Properties",
                    "["
                    + ", ".join(f"{k}={v}" for k, v in sorted(details["properties"].items()))
                    + "]",
                ),
            ]
            if materialized is not None:
                extra += _materialized_rows(materialized, self.catalog.last_refresh(name))
        return self._describe_columns(schema, extra)

    def _describe_schema(self, target: exp.Expression) -> StatementResult:
        """``DESCRIBE SCHEMA [EXTENDED] [catalog.]schema``: Databricks' item/value rows."""
        parts = [p.name for p in target.parts] if isinstance(target, exp.Table) else []
        if len(parts) == 1:
            catalog, schema = self.namespace.catalog, parts[0]
        elif len(parts) == 2:
            catalog, schema = parts
        else:
            raise SqlError(
                f"DESCRIBE SCHEMA takes a schema name or catalog.schema, not "
                f"{target.sql(dialect='databricks')!r}"
            )
        catalog, schema = catalog.lower(), schema.lower()
        self.catalog.require_schema(catalog, schema)
        items = [
            ("Catalog Name", catalog),
            ("Namespace Name", schema),
            ("Comment", ""),
            ("Location", str(self.catalog.schema_path(catalog, schema))),
            ("Owner", ""),
        ]
        return StatementResult(
            pa.table(
                {
                    "database_description_item": [k for k, _ in items],
                    "database_description_value": [v for _, v in items],
                }
            ),
            is_query=True,
        )

    @staticmethod
    def _describe_columns(schema: pa.Schema, extra: list[tuple[str, str]]) -> StatementResult:
        names = [f.name for f in schema]
        types = [arrow_to_ddl(f.type) for f in schema]
        comments = [
            (f.metadata or {}).get(COMMENT_KEY.encode(), b"").decode() or None for f in schema
        ]
        if extra:
            names += ["", "# Detailed Table Information"] + [k for k, _ in extra]
            types += ["", ""] + [v for _, v in extra]
            comments += [None, None] + [None] * len(extra)
        return StatementResult(
            pa.table(
                {
                    "col_name": names,
                    "data_type": types,
                    "comment": pa.array(comments, pa.string()),
                }
            ),
            is_query=True,
        )

    def _history(self, name: TableName) -> StatementResult:
        rows = self.catalog.history(name)
        return StatementResult(
            pa.table(
                {
                    "version": pa.array([r["version"] for r in rows], pa.int64()),
                    "timestamp": pa.array(
                        [r["timestamp"] * 1000 for r in rows], pa.timestamp("us", tz="UTC")
                    ),
                    "operation": [r.get(OPERATION_KEY) or r.get("operation") for r in rows],
                    "operationParameters": [
                        json.dumps(r.get("operationParameters") or {}, sort_keys=True) for r in rows
                    ],
                    "operationMetrics": [
                        json.dumps(r.get("operationMetrics") or {}, sort_keys=True) for r in rows
                    ],
                    "engineInfo": [r.get("engineInfo") for r in rows],
                }
            ),
            is_query=True,
        )

    # -- the statements lakeinfer adds: CREATE CATALOG, VACUUM, SHOW ..., EXPLAIN, SET ----------
    def _lake_statement(self, statement: dialect.LakeStatement, ai: AiEvaluator) -> StatementResult:
        if isinstance(statement, dialect.CreateCatalog):
            self.catalog.create_catalog(
                statement.name.lower(), if_not_exists=bool(statement.args.get("exists"))
            )
            return _empty()
        if isinstance(statement, dialect.DropCatalog):
            self.catalog.drop_catalog(
                statement.name.lower(),
                if_exists=bool(statement.args.get("exists")),
                cascade=bool(statement.args.get("cascade")),
            )
            return _empty()
        if isinstance(statement, dialect.Vacuum):
            table = vacuum(self.catalog, self._table_name(statement.this), self.settings, statement)
            return StatementResult(table, is_query=True)
        if isinstance(statement, dialect.Explain):
            return self._explain(statement.this, ai)
        if isinstance(statement, dialect.SetConfig):
            return self._set(statement)
        if isinstance(statement, dialect.ResetConfig):
            self.settings.reset(statement.setting)
            return _empty()
        show = self._show(statement)
        if show is not None:
            return StatementResult(show, is_query=True)
        return self._from_packages(statement, ai)

    def _explain(self, statement: exp.Expression, ai: AiEvaluator) -> StatementResult:
        query = statement
        if isinstance(statement, (exp.Create, exp.Insert)) and statement.expression is not None:
            query = statement.expression
            ai.accepts_latency = True
        if not isinstance(query, QUERY_TYPES):
            raise AnalysisError("EXPLAIN takes a query, CREATE TABLE ... AS or INSERT ... SELECT")
        lines = self.runner.explain(query, self.namespace, ai)
        return StatementResult(pa.table({"plan": lines}), is_query=True)

    def _from_packages(self, statement: exp.Expression, ai: AiEvaluator) -> StatementResult:
        """A statement of an installed package's extension not loaded yet, else an error."""
        extension = EXTENSIONS.statement_kind(statement, look_further=True)
        if extension is None:
            raise AnalysisError(f"unsupported statement: {_text(statement)[:80]}")
        return extension.execute(self, statement, ai)

    def _set(self, statement: dialect.SetConfig) -> StatementResult:
        """``SET`` (list), ``SET key`` (show one), ``SET key = value`` (change one)."""
        key, value = statement.setting, statement.value
        if key is not None and value is not None:
            self.settings.set(key, value)
            return _empty()
        rows = self.settings.rows() if key is None else [self.settings.row(key)]
        return StatementResult(
            pa.table(
                {
                    "key": pa.array([r["key"] for r in rows], pa.string()),
                    "value": pa.array([r["value"] for r in rows], pa.string()),
                }
            ),
            is_query=True,
        )

    def _show(self, statement: exp.Expression) -> pa.Table | None:
        """The rows of a ``SHOW`` statement; None for another statement."""
        pattern = statement.args.get("like")
        pattern = pattern.name if pattern is not None else None
        if isinstance(statement, dialect.ShowCatalogs):
            return pa.table({"catalog": matching(self.catalog.list_catalogs(), pattern)})
        if isinstance(statement, dialect.ShowSchemas):
            catalog = self.namespace.catalog
            if statement.this is not None:
                catalog = statement.this.name.lower()
            schemas = matching(self.catalog.list_schemas(catalog), pattern)
            return pa.table({"databaseName": schemas})
        if isinstance(statement, dialect.ShowTables):
            catalog, schema = self.namespace.catalog, self.namespace.schema
            if statement.this is not None:
                catalog, schema = self._schema_name(statement.this)
            tables = sorted(
                self.catalog.list_tables(catalog, schema) + self.catalog.list_views(catalog, schema)
            )
            tables = matching(tables, pattern)
            return pa.table(
                {
                    "database": [schema] * len(tables),
                    "tableName": tables,
                    "isTemporary": [False] * len(tables),
                }
            )
        if isinstance(statement, dialect.ShowTblProperties):
            properties = self.catalog.details(self._table_name(statement.this))["properties"]
            return pa.table(
                {
                    "key": pa.array(sorted(properties), pa.string()),
                    "value": pa.array([properties[k] for k in sorted(properties)], pa.string()),
                }
            )
        if isinstance(statement, dialect.ShowFunctions):
            scope = statement.args.get("scope") or "ALL"
            return show_functions(scope, pattern, user=self._user_functions())
        return None


def _text(statement: exp.Expression) -> str:
    """A statement's text, for an error naming it."""
    if isinstance(statement, exp.Command):
        rest = statement.expression
        if isinstance(rest, exp.Expression):
            rest = rest.name
        return " ".join(f"{statement.this} {rest or ''}".split())
    return statement.sql(dialect=dialect.NAME)


def _schema_from_columns(schema: exp.Expression) -> pa.Schema:
    if not isinstance(schema, exp.Schema) or not schema.expressions:
        raise AnalysisError("CREATE TABLE needs a column list or AS SELECT")
    fields = []
    for column in schema.expressions:
        if not isinstance(column, exp.ColumnDef) or column.args.get("kind") is None:
            raise AnalysisError(f"column {column.sql(dialect='databricks')} needs a type")
        what = f"CREATE TABLE column {column.name!r}{position_of(column)}"
        nullable, metadata = True, {}
        for constraint in column.args.get("constraints") or []:
            kind = constraint.args.get("kind")
            if isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null"):
                nullable = False
            elif isinstance(kind, exp.CommentColumnConstraint):
                metadata[COMMENT_KEY] = kind.name
            else:
                raise AnalysisError(
                    f"{what}: {constraint.sql(dialect='databricks')} is not supported (only NOT "
                    "NULL and COMMENT)"
                )
        dtype = ddl_to_arrow(column.args["kind"], what)
        fields.append(pa.field(column.name, dtype, nullable=nullable, metadata=metadata or None))
    return pa.schema(fields)


def _check_unique_names(columns: list[str], name: TableName) -> None:
    seen: set[str] = set()
    for column in columns:
        if column.lower() in seen:
            raise AnalysisError(
                f"cannot create {name}: column {column!r} appears twice; give it an alias"
            )
        seen.add(column.lower())


def _align(data: pa.Table, schema: pa.Schema, name: TableName, *, by_name: bool) -> pa.Table:
    """Fit ``data`` to the target schema: by position (``INSERT INTO t SELECT``) or by name
    (``INSERT INTO t (cols)``, missing columns become NULL); casts name the failing column."""
    if not by_name and data.num_columns != len(schema):
        raise AnalysisError(
            f"cannot write to {name}: it has {len(schema)} columns "
            f"({', '.join(schema.names)}) but the data has {data.num_columns}"
        )
    columns = []
    lowered = {c.lower(): i for i, c in enumerate(data.column_names)}
    for position, field in enumerate(schema):
        if by_name:
            index = lowered.get(field.name.lower())
            if index is None:
                if not field.nullable and data.num_rows:
                    raise AnalysisError(
                        f"cannot write NULL into column {field.name!r} of {name}: NOT NULL "
                        "(give it a value)"
                    )
                columns.append(pa.nulls(data.num_rows, field.type))
                continue
        else:
            index = position
        column = data.column(index)
        if not field.nullable and column.null_count:
            raise AnalysisError(f"cannot write NULL into column {field.name!r} of {name}: NOT NULL")
        try:
            columns.append(column.cast(field.type))
        except CAST_ERRORS as exc:
            raise AnalysisError(
                f"cannot write column {field.name!r} of {name}: "
                f"{arrow_to_ddl(column.type)} does not fit {arrow_to_ddl(field.type)} ({exc})"
            ) from None
    return pa.Table.from_arrays(columns, schema=schema)


def _materialized_rows(
    view: MaterializedViewDefinition, refresh: dict | None
) -> list[tuple[str, str]]:
    """What DESCRIBE EXTENDED adds for a materialized view: its query, schedule and last
    refresh (when, how, and the source versions it read)."""
    rows = [("View Text", view.sql)]
    if view.schedule:
        rows.append(("Refresh Schedule", f"{view.schedule['text']}"))
    if refresh is not None:
        when = datetime.fromtimestamp(refresh["timestamp"] / 1000, UTC)
        sources = ", ".join(f"{t} at version {v}" for t, v in sorted(refresh["sources"].items()))
        sources = sources or "no table read directly (views are read as they are)"
        rows += [
            ("Last Refreshed", when.isoformat(sep=" ", timespec="seconds")),
            ("Last Refresh Type", refresh["type"]),
            ("Last Refreshed From", sources),
        ]
    return rows


def _namespace_of(view: ViewDefinition) -> Namespace:
    return Namespace(view.catalog, view.schema)


def _properties(expressions: list[exp.Expression]) -> dict[str, str]:
    properties = {}
    for prop in expressions:
        if type(prop) is exp.Property:
            key = prop.this.name if isinstance(prop.this, exp.Expression) else str(prop.this)
            value = prop.args.get("value")
            properties[key] = value.name if isinstance(value, exp.Expression) else str(value)
    return properties


def _table_options(statement: exp.Create) -> TableOptions:
    """``PARTITIONED BY``, ``COMMENT`` and ``TBLPROPERTIES`` of a CREATE statement."""
    options = TableOptions()
    properties = statement.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.PartitionedByProperty):
            columns = prop.this.expressions if isinstance(prop.this, exp.Schema) else [prop.this]
            options.partition_by = [c.name for c in columns]
        elif isinstance(prop, exp.SchemaCommentProperty):
            options.comment = prop.this.name
        elif type(prop) is exp.Property:  # TBLPROPERTIES entries (not USING, LOCATION, ...)
            options.properties.update(_properties([prop]))
    return options


def _counts(**counts: int) -> StatementResult:
    return StatementResult(pa.table({k: pa.array([v], pa.int64()) for k, v in counts.items()}))


def _aligned(rows: RowStream, schema: pa.Schema, name: TableName, *, by_name: bool) -> RowStream:
    """:func:`_align` on every batch of ``rows``; a mismatch of names, counts or types is
    reported before the first batch is answered."""
    _align(rows.schema.empty_table(), schema, name, by_name=by_name)

    def align(batch: pa.RecordBatch) -> pa.RecordBatch:
        table = _align(pa.Table.from_batches([batch]), schema, name, by_name=by_name)
        return table_to_batch(table)

    return rows.map(schema, align)


def _affected(rows: int, inserted: int) -> StatementResult:
    return StatementResult(
        pa.table(
            {
                "num_affected_rows": pa.array([rows], pa.int64()),
                "num_inserted_rows": pa.array([inserted], pa.int64()),
            }
        )
    )
