"""Executes one parsed statement: DDL, DML, catalog commands and queries.

Every statement that writes a table streams its query's rows (batch by batch, AI calls
answered per batch) into a single Delta commit made after the last batch, so a statement that
fails (syntax, endpoint error under ``failOnError => true``, schema mismatch) leaves the
target's version and history unchanged, and a failed CTAS leaves no table.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace, TableName
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.engine.batches import RowStream, table_to_batch
from lakeinfer.engine.query import QueryRunner
from lakeinfer.errors import AnalysisError, SqlError
from lakeinfer.settings import Settings, parse_set
from lakeinfer.sql.parse import tokenize
from lakeinfer.sql.types import arrow_to_ddl, ddl_to_arrow

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

    def is_query(self, statement: exp.Expression) -> bool:
        return isinstance(statement, QUERY_TYPES)

    def execute(self, statement: exp.Expression, ai: AiEvaluator) -> StatementResult:
        if isinstance(statement, QUERY_TYPES):
            return StatementResult(self.runner.run(statement, self.namespace, ai), is_query=True)
        if isinstance(statement, exp.Create):
            return self._create(statement, ai)
        if isinstance(statement, exp.Insert):
            return self._insert(statement, ai)
        if isinstance(statement, exp.Drop):
            return self._drop(statement)
        if isinstance(statement, exp.Use):
            return self._use(statement)
        if isinstance(statement, exp.Describe):
            return self._describe(statement)
        if isinstance(statement, exp.Command):
            return self._command(statement, ai)
        raise AnalysisError(f"unsupported statement: {statement.sql(dialect='databricks')[:80]}")

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
        if kind != "TABLE":
            raise AnalysisError(f"CREATE {kind} is not supported")
        name = self._table_name(statement.this)
        query = statement.expression
        if query is None:
            schema = _schema_from_columns(statement.this)
            self.catalog.create_table(name, schema, if_not_exists=if_not_exists, replace=replace)
            return _empty()
        # check before paying for the query
        if self.catalog.exists(name):
            if if_not_exists:
                return _empty()
            if not replace:
                raise SqlError(f"table {name} already exists (use CREATE OR REPLACE TABLE)")
        else:
            self.catalog.require_schema(name.catalog, name.schema)
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
                name, rows.schema, rows, "overwrite", replace_schema=True
            )
        finally:
            rows.close()  # frees the DuckDB connection also when the write failed
        return _affected(written, inserted=written)

    # -- INSERT --------------------------------------------------------------------------
    def _insert(self, statement: exp.Insert, ai: AiEvaluator) -> StatementResult:
        target = statement.this
        name = self._table_name(target)
        schema = self.catalog.schema(name)  # fails early on an unknown table
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
            else:
                rows = _aligned(rows, schema, name, by_name=False)
        except BaseException:
            rows.close()
            raise
        mode = "overwrite" if statement.args.get("overwrite") else "append"
        try:
            written = self.catalog.write_batches(name, rows.schema, rows, mode)
        finally:
            rows.close()
        return _affected(written, inserted=written)

    # -- DROP / USE / DESCRIBE -------------------------------------------------------------
    def _drop(self, statement: exp.Drop) -> StatementResult:
        kind = (statement.args.get("kind") or "").upper()
        if_exists = bool(statement.args.get("exists"))
        target = statement.this or (statement.args.get("tables") or [None])[0]
        if target is None:
            raise AnalysisError("DROP needs a name")
        if kind == "TABLE":
            self.catalog.drop_table(self._table_name(target), if_exists=if_exists)
        elif kind in ("SCHEMA", "DATABASE"):
            catalog, schema = self._schema_name(target)
            self.catalog.drop_schema(
                catalog, schema, if_exists=if_exists, cascade=bool(statement.args.get("cascade"))
            )
        else:
            raise AnalysisError(f"DROP {kind} is not supported")
        return _empty()

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
        name = self._table_name(statement.this)
        schema = self.catalog.schema(name)
        return StatementResult(
            pa.table(
                {
                    "col_name": [f.name for f in schema],
                    "data_type": [arrow_to_ddl(f.type) for f in schema],
                    "comment": pa.nulls(len(schema), pa.string()),
                }
            ),
            is_query=True,
        )

    # -- commands sqlglot keeps as text: CREATE CATALOG, SHOW ..., DROP CATALOG ------------
    def _explain(self, text: str, ai: AiEvaluator) -> StatementResult:
        from lakeinfer.sql.parse import parse_statements

        statements = parse_statements(text)
        if len(statements) != 1:
            raise AnalysisError("EXPLAIN takes one statement")
        (statement,) = statements
        query = statement
        if isinstance(statement, (exp.Create, exp.Insert)) and statement.expression is not None:
            query = statement.expression
        if not isinstance(query, QUERY_TYPES):
            raise AnalysisError("EXPLAIN takes a query, CREATE TABLE ... AS or INSERT ... SELECT")
        lines = self.runner.explain(query, self.namespace, ai)
        return StatementResult(pa.table({"plan": lines}), is_query=True)

    def _command(self, statement: exp.Command, ai: AiEvaluator) -> StatementResult:
        rest = statement.expression
        if isinstance(rest, exp.Expression):
            rest = rest.name
        text = f"{statement.this} {rest or ''}"
        words = [str(statement.this)] + [t.text for t in tokenize(rest or "")]
        upper = [w.upper() for w in words]
        if upper[:2] == ["CREATE", "CATALOG"]:
            if_not_exists = upper[2:5] == ["IF", "NOT", "EXISTS"]
            rest = words[5:] if if_not_exists else words[2:]
            self.catalog.create_catalog(
                _one_name(rest, "CREATE CATALOG"), if_not_exists=if_not_exists
            )
            return _empty()
        if upper[:2] == ["DROP", "CATALOG"]:
            if_exists = upper[2:4] == ["IF", "EXISTS"]
            rest = [w for w in (words[4:] if if_exists else words[2:]) if w.upper() != "CASCADE"]
            self.catalog.drop_catalog(
                _one_name(rest, "DROP CATALOG"), if_exists=if_exists, cascade="CASCADE" in upper
            )
            return _empty()
        if upper[:1] == ["SHOW"]:
            return self._show(upper[1:], words[1:])
        if upper[:1] == ["EXPLAIN"]:
            return self._explain(rest or "", ai)
        if upper[:1] == ["SET"]:
            return self._set(rest or "")
        if upper[:1] == ["RESET"]:
            self.settings.reset((rest or "").strip() or None)
            return _empty()
        raise AnalysisError(f"unsupported statement: {text.strip()[:80]}")

    def _set(self, text: str) -> StatementResult:
        """``SET`` (list), ``SET key`` (show one), ``SET key = value`` (change one)."""
        key, value = parse_set(text)
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

    def _show(self, upper: list[str], words: list[str]) -> StatementResult:
        if upper[:1] == ["CATALOGS"]:
            return StatementResult(pa.table({"catalog": self.catalog.list_catalogs()}), True)
        if upper[:1] in (["SCHEMAS"], ["DATABASES"]):
            catalog = self.namespace.catalog
            if len(upper) >= 3 and upper[1] in ("IN", "FROM"):
                catalog = words[2].lower()
            return StatementResult(
                pa.table({"databaseName": self.catalog.list_schemas(catalog)}), True
            )
        if upper[:1] == ["TABLES"]:
            catalog, schema = self.namespace.catalog, self.namespace.schema
            if len(upper) >= 3 and upper[1] in ("IN", "FROM"):
                parts = [w.lower() for w in words[2:] if w != "."]
                catalog, schema = (catalog, parts[0]) if len(parts) == 1 else parts[:2]
            tables = self.catalog.list_tables(catalog, schema)
            return StatementResult(
                pa.table(
                    {
                        "database": [schema] * len(tables),
                        "tableName": tables,
                        "isTemporary": [False] * len(tables),
                    }
                ),
                True,
            )
        raise AnalysisError(f"unsupported statement: SHOW {' '.join(words)}")


def _one_name(words: list[str], what: str) -> str:
    if len(words) != 1:
        raise AnalysisError(f"{what} takes one name, got {' '.join(words) or 'none'}")
    return words[0].lower()


def _schema_from_columns(schema: exp.Expression) -> pa.Schema:
    if not isinstance(schema, exp.Schema) or not schema.expressions:
        raise AnalysisError("CREATE TABLE needs a column list or AS SELECT")
    fields = []
    for column in schema.expressions:
        if not isinstance(column, exp.ColumnDef) or column.args.get("kind") is None:
            raise AnalysisError(f"column {column.sql(dialect='databricks')} needs a type")
        fields.append(pa.field(column.name, ddl_to_arrow(column.args["kind"])))
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
                columns.append(pa.nulls(data.num_rows, field.type))
                continue
        else:
            index = position
        column = data.column(index)
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise AnalysisError(
                f"cannot write column {field.name!r} of {name}: "
                f"{arrow_to_ddl(column.type)} does not fit {arrow_to_ddl(field.type)} ({exc})"
            ) from None
    return pa.Table.from_arrays(columns, schema=schema)


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
