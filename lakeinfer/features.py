"""The features lakeinfer ships, registered with the engine in one place.

Each feature (vector search, streaming tables, evaluation, forecasting) adds its table
functions and statements to :data:`lakeinfer.engine.extensions.EXTENSIONS`; a feature's module
is imported only when a statement uses it. The registration functions of installed packages (the
``lakeinfer.extensions`` entry point group) run when the engine first meets a table function or
statement it does not know. Sessions call :func:`load`.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from sqlglot import exp

from lakeinfer.engine.extensions import EXTENSIONS, GROUP, Extensions
from lakeinfer.errors import ConfigError
from lakeinfer.pipelines import materialized_syntax
from lakeinfer.vector import syntax as vector_syntax

if TYPE_CHECKING:
    import pyarrow as pa

    from lakeinfer.catalog.delta_catalog import Namespace
    from lakeinfer.engine.ai_eval import AiEvaluator
    from lakeinfer.engine.query import QueryRunner
    from lakeinfer.engine.statements import StatementExecutor, StatementResult
    from lakeinfer.pipelines.streaming import DataStreamReader
    from lakeinfer.session import Session

_builtins_loaded = False
#: installed extensions already registered: their entry points' name, value and location
_plugins_loaded: set[tuple[str, str, str]] = set()
#: the import path the installed packages were last looked for on
_searched_path: tuple[str, ...] | None = None


def load() -> Extensions:
    """Register the built-in features (once), and have installed packages' extensions loaded
    when the engine first meets a name or statement it does not know."""
    global _builtins_loaded
    if not _builtins_loaded:
        register_builtins(EXTENSIONS)
        EXTENSIONS.add_loader(load_installed)
        _builtins_loaded = True
    return EXTENSIONS


def load_installed() -> bool:
    """Register the extensions of packages installed since the last look (the
    ``lakeinfer.extensions`` entry point group); whether there were any. Looks again only
    when the import path changed, so an unknown name costs one search per process."""
    global _searched_path
    path = tuple(sys.path)
    if path == _searched_path:
        return False
    _searched_path = path
    found = False
    for entry in entry_points(group=GROUP):
        where = str(entry.dist.locate_file("")) if entry.dist is not None else ""
        if (entry.name, entry.value, where) in _plugins_loaded:
            continue
        try:
            register = entry.load()
        except Exception as exc:
            raise ConfigError(
                f"extension {entry.name!r} ({entry.value}) cannot be loaded: "
                f"{exc.__class__.__name__}: {exc}"
            ) from None
        register(EXTENSIONS)
        _plugins_loaded.add((entry.name, entry.value, where))
        found = True
    return found


def register_builtins(extensions: Extensions) -> None:
    """The table functions and statements of lakeinfer's own features, and what
    ``session.readStream`` returns."""
    extensions.set_stream_reader(_stream_reader)
    extensions.add_table_function("vector_search", _vector_search, _vector_search_each)
    extensions.add_table_function("ai_evaluate", _ai_evaluate)
    extensions.add_table_function("ai_forecast", _ai_forecast)
    # before streaming tables: a materialized view reading STREAM(t) is refused, not streamed
    extensions.add_statement(
        "materialized view",
        materialized_syntax.matches,
        _materialized_view,
        syntax=materialized_syntax.SYNTAX,
    )
    extensions.add_statement("streaming table", _is_streaming_table, _create_streaming_table)
    extensions.add_statement(
        "vector index", vector_syntax.NODES, _vector_statement, syntax=vector_syntax.SYNTAX
    )


def _vector_search(
    runner: QueryRunner, node: exp.Expression, namespace: Namespace, ai: AiEvaluator
) -> pa.Table:
    from lakeinfer.vector.sql import vector_search

    return vector_search(runner, node, namespace, ai)


def _stream_reader(session: Session) -> DataStreamReader:
    from lakeinfer.pipelines.streaming import DataStreamReader

    return DataStreamReader(session)


def _vector_search_each(
    runner: QueryRunner, node: exp.Expression, namespace: Namespace, ai: AiEvaluator, keys: pa.Table
) -> pa.Table:
    from lakeinfer.vector.sql import vector_search_each

    return vector_search_each(runner, node, namespace, ai, keys)


def _ai_evaluate(
    runner: QueryRunner, node: exp.Expression, namespace: Namespace, ai: AiEvaluator
) -> pa.Table:
    from lakeinfer.evaluation.sql import ai_evaluate

    return ai_evaluate(runner, node, namespace, ai)


def _ai_forecast(
    runner: QueryRunner, node: exp.Expression, namespace: Namespace, ai: AiEvaluator
) -> pa.Table:
    from lakeinfer.forecast import ai_forecast

    return ai_forecast(runner, node, namespace, ai)


def _materialized_view(
    executor: StatementExecutor, statement: exp.Expression, ai: AiEvaluator
) -> StatementResult:
    from lakeinfer.engine.statements import StatementResult
    from lakeinfer.pipelines.materialized import execute

    return StatementResult(execute(executor, statement, ai))


def _is_streaming_table(statement: exp.Expression) -> bool:
    """``CREATE [OR REFRESH] STREAMING TABLE ... FROM STREAM(t)``: sqlglot's Databricks parser
    reads it as a CREATE TABLE with a streaming property; a CREATE TABLE reading a STREAM(t) is
    one too."""
    if not isinstance(statement, exp.Create):
        return False
    properties = statement.args.get("properties")
    streaming = properties is not None and any(
        isinstance(p, exp.StreamingTableProperty) for p in properties.expressions
    )
    return streaming or statement.find(exp.Stream) is not None


def _create_streaming_table(
    executor: StatementExecutor, statement: exp.Expression, ai: AiEvaluator
) -> StatementResult:
    from lakeinfer.engine.statements import StatementResult
    from lakeinfer.pipelines.sql import create_streaming_table

    assert isinstance(statement, exp.Create)
    return StatementResult(create_streaming_table(executor, statement, ai))


def _vector_statement(
    executor: StatementExecutor, statement: exp.Expression, ai: AiEvaluator
) -> StatementResult:
    from lakeinfer.engine.statements import StatementResult
    from lakeinfer.vector import sql as vector_sql

    table = vector_sql.execute(executor.catalog, executor.namespace, statement, ai)
    return StatementResult(table, is_query=isinstance(statement, vector_syntax.ShowVectorIndexes))
