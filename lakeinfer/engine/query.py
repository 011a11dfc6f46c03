"""Runs one query (SELECT, VALUES, set operations) on DuckDB over Delta tables, with AI calls.

Relations for the Delta tables a statement names are registered for that statement only, from
the table's current version. AI calls are evaluated by the staged plan where the shape allows
(see :mod:`lakeinfer.sql.plan`), else bound as vectorised DuckDB functions that batch and memoise
their requests.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager

import duckdb
import pyarrow as pa
from duckdb import sqltypes
from duckdb.func import FunctionNullHandling, PythonUDFType
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace, TableRef
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.engine.batches import BATCH_ROWS, RowStream, table_to_batch
from lakeinfer.engine.operators import OperatorEndpoints, bound_operators
from lakeinfer.engine.sandbox import SqlSandbox, refusal_message
from lakeinfer.engine.table_functions import table_functions
from lakeinfer.errors import LakeinferError, SqlError, did_you_mean
from lakeinfer.sql import json_functions, semantic
from lakeinfer.sql.ddl import to_duckdb
from lakeinfer.sql.functions import AiQueryCall, bind_ai_query
from lakeinfer.sql.plan import (
    FunctionInlining,
    StagedCall,
    StagedSelect,
    ViewLookup,
    ai_calls,
    rewrite_tables,
    stage_select,
)
from lakeinfer.sql.translate import DIVIDE_BY_ZERO, translate
from lakeinfer.sql.types import arrow_to_ddl

STAGE = "__li_stage"
_ids = itertools.count()


class QueryRunner:
    """Executes queries on one DuckDB connection against one catalog."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        catalog: DeltaCatalog,
        views: ViewLookup | None = None,
        sandbox: SqlSandbox | None = None,
    ):
        self.con = con
        self.catalog = catalog
        #: finds views (stored and temporary) by name; None: tables only
        self.views = views
        #: where the query may read files (None: anywhere)
        self.sandbox = sandbox
        #: inlines SQL function calls (None: there are none)
        self.functions: FunctionInlining | None = None
        json_functions.register(con)
        semantic.register(con)
        self._aux: duckdb.DuckDBPyConnection | None = None

    def run(self, query: exp.Expression, namespace: Namespace, ai: AiEvaluator) -> pa.Table:
        """Evaluate ``query`` to an Arrow table."""
        return self.stream(query, namespace, ai).read_all()

    def stream(
        self,
        query: exp.Expression,
        namespace: Namespace,
        ai: AiEvaluator,
        batch_rows: int | None = None,
    ) -> RowStream:
        """Evaluate ``query`` as a stream of record batches.

        With AI calls in the staged shape, the relational part is read from DuckDB
        ``batch_rows`` rows (default :data:`BATCH_ROWS`) at a time and each batch's AI calls
        are answered before the next batch is read, so memory is bounded by a batch, not by
        the table. Consume or
        :meth:`RowStream.close` the stream before running anything else on this runner.
        """
        registered = ExitStack()  # table functions, relations and operators of this query
        try:
            query = registered.enter_context(table_functions(self, query, namespace, ai))
            tree, relations = rewrite_tables(
                query, namespace, self.views, sandbox=self.sandbox, functions=self.functions
            )
            tree = translate(tree)
            registered.enter_context(self._registered(relations))
            tree = registered.enter_context(bound_operators(self.con, tree, ai))
            if not ai_calls(tree):
                table = self._duckdb(tree)
            else:
                plan = stage_select(tree)
                if plan is not None:
                    rows = batch_rows or ai.stream_rows() or BATCH_ROWS
                    return self._stream_staged(plan, ai, rows, registered)
                table = self._run_with_functions(tree, ai)
            registered.close()
            return RowStream.from_table(table)
        except BaseException:
            # the contexts may turn the error into a clearer one (an ai_agg model failure)
            registered.__exit__(*sys.exc_info())
            raise

    def explain(self, query: exp.Expression, namespace: Namespace, ai: AiEvaluator) -> list[str]:
        """How ``query`` would run and what its AI calls would cost, without calling a model.

        The relational part runs (it decides which requests exist); requests that depend on
        other AI answers (nested calls) cannot be known and are reported as such.
        """
        tree, relations = rewrite_tables(
            query, namespace, self.views, sandbox=self.sandbox, functions=self.functions
        )
        tree = semantic.rewrite(translate(tree), OperatorEndpoints(ai))
        nodes = ai_calls(tree)
        aggregates = [n for n in tree.find_all(exp.Anonymous) if semantic.is_operator(n, "ai_agg")]
        if aggregates:
            return [
                f"{len(aggregates)} ai_agg call(s) and {len(nodes)} ai_query call(s): ai_agg "
                "reduces each group's rows in steps that fit lakeinfer.agg_context_tokens; its "
                "requests are known only while running: not estimated"
            ]
        if not nodes:
            return ["no AI calls: runs on DuckDB as is"]
        with self._registered(relations), bound_operators(self.con, tree, ai) as tree:
            plan = stage_select(tree)
            if plan is None:
                lines = [
                    f"{len(nodes)} ai_query call(s) in WHERE, GROUP BY, ORDER BY, an "
                    "aggregate or a subquery: evaluated inside DuckDB as batched, "
                    "memoised functions; requests are known only while running"
                ]
                for node in nodes:
                    call = ai.resolve(bind_ai_query(node))
                    lines.append(f"ai_query endpoint={call.endpoint!r}: not estimated")
                return lines
            base = self._duckdb(plan.base)
            stage = self._stage_table(plan, base)
            lines = [
                f"staged: the relational part runs first and yields {base.num_rows} rows; "
                f"then {len(plan.calls)} ai_query call(s), inner calls first"
            ]
            total = 0
            online_usd = chosen_usd = 0.0
            for staged in plan.calls:
                endpoint = ai.resolve(staged.call).endpoint
                name = f"ai_query #{staged.index + 1} endpoint={endpoint!r}"
                if any(c.name.startswith("__li_a") for c in staged.request.find_all(exp.Column)):
                    lines.append(
                        f"{name}: its requests depend on other AI answers (nested); not estimated"
                    )
                    continue
                requests = self._requests(staged, stage, ai)
                p = ai.preview(staged.call, requests)
                to_call = p["distinct"] - p["cached"]
                tokens = p["input_tokens"] + p["output_tokens"]
                total += tokens
                note, online, chosen = ai.cost_note(staged.call, p)
                online_usd, chosen_usd = online_usd + online, chosen_usd + chosen
                packed = ""
                if p["pack_rows"] > 1:
                    packed = f" in {p['calls']} packed calls of up to {p['pack_rows']} rows"
                lines.append(
                    f"{name}: {p['rows']} rows, {p['distinct']} distinct requests, "
                    f"{p['cached']} cached, {to_call} to call{packed}, ~{tokens} tokens "
                    f"({p['input_tokens']} in by characters/4 + {p['output_tokens']} out by "
                    f"max_tokens)" + (f"; {note}" if note else "")
                )
            price = ""
            if online_usd:
                price = f", ~${chosen_usd:.4f}"
                if chosen_usd != online_usd:
                    price += f" (online price ~${online_usd:.4f})"
            lines.append(f"estimated total: ~{total} tokens{price}")
            return lines

    def describe(
        self, query: exp.Expression, namespace: Namespace, ai: AiEvaluator | None = None
    ) -> pa.Schema:
        """The columns ``query`` would return, resolved against the catalog without running
        it and without calling a model (AI calls count as their declared result type)."""
        with table_functions(self, query, namespace, ai) as query:
            return self._describe(query, namespace, ai)

    def _describe(
        self, query: exp.Expression, namespace: Namespace, ai: AiEvaluator | None
    ) -> pa.Schema:
        tree, relations = rewrite_tables(
            query, namespace, self.views, sandbox=self.sandbox, functions=self.functions
        )
        endpoints = OperatorEndpoints(ai, start_providers=False)
        tree = semantic.rewrite(translate(tree), endpoints)
        for node in reversed(ai_calls(tree)):
            call = bind_ai_query(node)
            task = ai.task_of(call) if ai is not None else "chat"
            ddl = arrow_to_ddl(call.output_type(task))
            node.replace(exp.cast(exp.Null(), exp.DataType.build(ddl, dialect="databricks")))
        with self._registered(relations), bound_operators(self.con, tree, ai, endpoints) as tree:
            limited = exp.select("*").from_(tree.subquery("__li_describe")).limit(0)
            return self._duckdb(limited).schema

    @contextmanager
    def registered_table(self, relation: str, table: pa.Table) -> Iterator[None]:
        """Make an Arrow table visible to queries as ``relation`` (an internal ``__li_`` name)
        for the duration of the block."""
        self.con.register(relation, table)
        try:
            yield
        finally:
            self.con.unregister(relation)

    # -- plumbing ------------------------------------------------------------------------
    @contextmanager
    def _registered(self, relations: dict[str, TableRef]) -> Iterator[None]:
        names = []
        try:
            for relation, ref in relations.items():
                self.con.register(relation, self.catalog.dataset(ref))
                names.append(relation)
            yield
        finally:
            for relation in names:
                self.con.unregister(relation)

    def _duckdb(self, tree: exp.Expression | str) -> pa.Table:
        sql = tree if isinstance(tree, str) else tree.sql(dialect="duckdb")
        try:
            return _with_bigint_sums(self.con.sql(sql))
        except duckdb.Error as exc:
            raise SqlError(_clean_duckdb_error(exc, tree)) from None

    # -- the staged plan -----------------------------------------------------------------
    def _stream_staged(
        self,
        plan: StagedSelect,
        ai: AiEvaluator,
        batch_rows: int,
        registered: AbstractContextManager[None],
    ) -> RowStream:
        try:
            reader = self.con.sql(plan.base.sql(dialect="duckdb")).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            raise SqlError(_clean_duckdb_error(exc)) from None
        closed = False

        def close() -> None:
            nonlocal closed
            if not closed:
                closed = True
                reader.close()  # DuckDB refuses other queries on the connection until then
                registered.__exit__(None, None, None)

        def read() -> pa.Table | None:
            """Up to ``batch_rows`` rows (DuckDB hands out smaller pieces); None at the end."""
            pieces, rows = [], 0
            while rows < batch_rows:
                try:
                    piece = reader.read_next_batch()
                except StopIteration:
                    break
                except (duckdb.Error, pa.ArrowException) as exc:
                    raise SqlError(_clean_duckdb_error(exc)) from None
                pieces.append(piece)
                rows += piece.num_rows
            return pa.Table.from_batches(pieces, schema=reader.schema) if pieces else None

        def batches() -> Iterator[pa.RecordBatch]:
            offset = 0
            while (base := read()) is not None:
                yield self._answer_batch(plan, ai, base, offset)
                offset += base.num_rows
            if offset == 0:  # the output schema still comes from an (empty) batch
                yield self._answer_batch(plan, ai, reader.schema.empty_table(), 0)

        return RowStream.from_iterator(batches(), close)

    def _answer_batch(
        self, plan: StagedSelect, ai: AiEvaluator, base: pa.Table, offset: int
    ) -> pa.RecordBatch:
        """Rows of the base query with their AI calls answered (``offset``: rows before them,
        so errors name the row of the whole result)."""
        visible = base.num_columns - len(plan.hidden)
        stage = self._stage_table(plan, base)
        for staged in plan.calls:
            requests = self._requests(staged, stage, ai)
            answers = ai.answer(staged.call, requests, row_offset=offset)
            stage = stage.append_column(staged.result_column, answers)
        filled = {
            out.placeholder: (out.name, self._evaluate(out.expression, stage))
            for out in plan.outputs
        }
        names, columns = [], []
        for index in range(visible):
            name = base.column_names[index]
            if name in filled:
                name, column = filled[name]
            else:
                column = base.column(index)
            names.append(name)
            columns.append(column)
        return table_to_batch(pa.Table.from_arrays(columns, names=names))

    def _requests(
        self, staged: StagedCall, stage: pa.Table, ai: AiEvaluator | None = None
    ) -> pa.ChunkedArray:
        """The request text of every staged row (a hidden string column is used as it is);
        custom models get their values as they are (a struct stays a struct)."""
        requests = self._evaluate(staged.request, stage)
        if _is_text(requests.type) or (ai is not None and ai.task_of(staged.call) == "custom"):
            return requests
        return self._evaluate(exp.cast(staged.request, "VARCHAR"), stage)

    @staticmethod
    def _stage_table(plan: StagedSelect, base: pa.Table) -> pa.Table:
        """The hidden columns of the base result (plus a column that keeps the row count)."""
        visible = base.num_columns - len(plan.hidden)
        stage = pa.table({"__li_rows": pa.nulls(base.num_rows)})
        for offset, name in enumerate(plan.hidden):
            stage = stage.append_column(name, base.column(visible + offset))
        return stage

    def _evaluate(self, expression: exp.Expression, stage: pa.Table) -> pa.ChunkedArray:
        """One expression over the staged table, in row order (on a second connection: the
        first may be streaming the base query)."""
        if isinstance(expression, exp.Column) and expression.name in stage.column_names:
            return stage.column(expression.name)
        if self._aux is None:
            self._aux = self.con.cursor()
            # temporary macros and functions belong to one connection: install them here too
            json_functions.register(self._aux)
            semantic.register(self._aux)
        aux = self._aux
        aux.register(STAGE, stage)
        try:
            sql = f"SELECT {expression.sql(dialect='duckdb')} AS v FROM {STAGE}"
            return aux.sql(sql).to_arrow_table().column(0)
        except duckdb.Error as exc:
            raise SqlError(_clean_duckdb_error(exc)) from None
        finally:
            aux.unregister(STAGE)

    # -- the fallback: AI calls as DuckDB functions ----------------------------------------
    def _run_with_functions(self, tree: exp.Expression, ai: AiEvaluator) -> pa.Table:
        registered: list[str] = []
        failures: list[LakeinferError] = []
        try:
            # innermost calls first, so an outer call's request already holds the inner function
            for node in reversed(ai_calls(tree)):
                call = bind_ai_query(node)
                # custom models take any value: it travels through DuckDB as JSON text
                as_json = ai.task_of(call) == "custom"
                name = f"__li_ai_{next(_ids)}"
                return_type = to_duckdb(ai.output_type(call))

                udf = _ai_function(ai, call, failures, as_json)
                self.con.create_function(
                    name,
                    udf,
                    [sqltypes.VARCHAR],
                    sqltypes.DuckDBPyType(return_type),
                    type=PythonUDFType.ARROW,
                    null_handling=FunctionNullHandling.SPECIAL,
                    exception_handling=duckdb.PythonExceptionHandling.DEFAULT,
                )
                registered.append(name)
                request = (
                    exp.Anonymous(this="to_json", expressions=[call.request])
                    if as_json
                    else exp.cast(call.request, "VARCHAR")
                )
                node.replace(exp.Anonymous(this=name, expressions=[exp.cast(request, "VARCHAR")]))
            try:
                return self.con.sql(tree.sql(dialect="duckdb")).to_arrow_table()
            except duckdb.Error as exc:
                if failures:
                    raise failures[0] from None
                raise SqlError(_clean_duckdb_error(exc)) from None
        finally:
            for name in registered:
                self.con.remove_function(name)


def _ai_function(
    ai: AiEvaluator, call: AiQueryCall, failures: list[LakeinferError], as_json: bool = False
) -> Callable[[pa.Array], pa.Array]:
    def udf(requests: pa.Array) -> pa.Array:
        try:
            return ai.answer(call, requests, json_requests=as_json)
        except LakeinferError as error:
            failures.append(error)  # DuckDB re-raises it as its own error type
            raise

    return udf


def _is_text(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def _with_bigint_sums(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    """The rows, with DuckDB's 128-bit integer results (``sum`` of integers) as BIGINT, the type
    Databricks gives them (a sum past BIGINT is an overflow error, as under ANSI mode)."""
    names = relation.columns
    if any(str(t) == "HUGEINT" for t in relation.types):
        columns = [
            f"CAST(#{i} AS BIGINT)" if str(t) == "HUGEINT" else f"#{i}"
            for i, t in enumerate(relation.types, start=1)
        ]
        relation = relation.project(", ".join(columns))
        try:
            return relation.to_arrow_table().rename_columns(names)
        except duckdb.ConversionException as exc:
            detail = str(exc).split("\n")[0]
            raise SqlError(
                f"arithmetic overflow: an integer sum is past BIGINT ({detail})"
            ) from None
    return relation.to_arrow_table().rename_columns(names)


_MISSING_COLUMN = re.compile(
    r'Referenced column "(?P<name>[^"]+)" not found in FROM clause!(?:\s*Candidate bindings: '
    r"(?P<candidates>.*))?",
    re.DOTALL,
)


_MISSING_QUALIFIED = re.compile(
    r'(?:Values list|Table) "[^"]+" does not have a column named "(?P<name>[^"]+)"'
)


_CAST_FAILED = re.compile(r"Could not convert string '(?P<value>.*?)' to (?P<type>[A-Z0-9_()., ]+)")
_UNKNOWN_FUNCTION = re.compile(
    r"(?:Scalar|Table|Aggregate) Function with name (?P<name>\S+) does not"
)
#: DuckDB's internal type names in messages, as Databricks spells them
_TYPE_NAMES = {
    "INT8": "TINYINT",
    "INT16": "SMALLINT",
    "INT32": "INT",
    "INT64": "BIGINT",
    "BOOL": "BOOLEAN",
    "VARCHAR": "STRING",
}
#: what follows DuckDB's first lines: its candidate list, or the query it ran (lakeinfer's
#: rewrite of the user's statement, not what the user wrote)
_DUCKDB_CONTEXT = re.compile(r"\n\s*(?:\n\s*LINE \d+:|Candidate functions:).*", re.DOTALL)


def _clean_duckdb_error(exc: duckdb.Error, tree: exp.Expression | str | None = None) -> str:
    """DuckDB's message without the internal relation names lakeinfer invented; an unknown
    column is named with its position in the statement and the closest existing columns."""
    if isinstance(exc, duckdb.PermissionException):  # a sandboxed session's refusal
        return refusal_message(str(exc))
    message = str(exc)
    if DIVIDE_BY_ZERO in message or "Division by zero in expression" in message:
        return DIVIDE_BY_ZERO
    if "[CAST_INVALID_INPUT] argument" in message:  # a SQL function's argument (raised as such)
        return message[message.index("[CAST_INVALID_INPUT]") :].split("\n")[0]
    cast = _CAST_FAILED.search(message)
    if cast is not None:
        target = _TYPE_NAMES.get(cast.group("type").strip(), cast.group("type").strip())
        return (
            f"[CAST_INVALID_INPUT] The value '{cast.group('value')}' of the type \"STRING\" "
            f'cannot be cast to "{target}" because it is malformed. Correct the value as per '
            "the syntax, or change its target type. Use `try_cast` to tolerate malformed input "
            "and return NULL instead."
        )
    unknown = _UNKNOWN_FUNCTION.search(message)
    if unknown is not None:
        from lakeinfer.sql.function_list import names

        name = unknown.group("name")
        return (
            f"[UNRESOLVED_ROUTINE] Cannot resolve routine `{name}` on search path"
            f"{did_you_mean(name, names())}"
        )
    message = _DUCKDB_CONTEXT.sub("", message)
    missing = _MISSING_COLUMN.search(message) or _MISSING_QUALIFIED.search(message)
    if missing is not None:
        name = missing.group("name")
        candidates = re.findall(r'"([^"]+)"', missing.groupdict().get("candidates") or "")
        candidates = [
            c.split(".")[-1] for c in candidates if not c.split(".")[-1].startswith("__li_")
        ]
        where = ""
        if isinstance(tree, exp.Expression):
            for column in tree.find_all(exp.Column):
                if column.name == name and column.this.meta.get("line") is not None:
                    meta = column.this.meta  # sqlglot's col is where the name ends
                    where = f" at line {meta['line']}, column {meta['col'] - len(name) + 1}"
                    break
        return f"column {name!r} not found{where}{did_you_mean(name, candidates)}"

    message = re.sub(
        r'"?__li_([a-z0-9_]+?)__([a-z0-9_]+?)__([a-z0-9_]+)"?',
        lambda m: f"{m.group(1)}.{m.group(2)}.{m.group(3)}",
        message,
    )
    return message.replace("__li_", "")
