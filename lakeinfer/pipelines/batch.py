"""Runs a stream's query over one micro-batch with the ordinary SQL engine.

The query names the source table; for the batch, that name is bound to the batch's rows
instead of the table's current version (other tables it joins are read as usual). AI calls go
through the same evaluator as :meth:`lakeinfer.Session.sql`, response cache included, so a batch
re-run after a crash does not pay again for answers it already got.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace, TableName, TableRef
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.engine.query import QueryRunner


class _BatchCatalog:
    """The catalog, with one table's rows replaced by the batch's."""

    def __init__(self, catalog: DeltaCatalog, source: TableName, rows: pa.Table):
        self._catalog = catalog
        self._source = source
        self._rows = rows

    def dataset(self, ref: TableName | TableRef) -> Any:
        name = ref.name if isinstance(ref, TableRef) else ref
        current = not isinstance(ref, TableRef) or (ref.version is None and ref.timestamp is None)
        if name == self._source and current:
            return self._rows
        return self._catalog.dataset(ref)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._catalog, attribute)


def run_batch(
    con: duckdb.DuckDBPyConnection,
    catalog: DeltaCatalog,
    namespace: Namespace,
    query: exp.Expression,
    source: TableName,
    rows: pa.Table,
    ai: AiEvaluator,
) -> pa.Table:
    """The query's result over ``rows`` standing in for ``source``."""
    runner = QueryRunner(con, _BatchCatalog(catalog, source, rows))  # type: ignore[arg-type]
    return runner.run(query, namespace, ai)


def stream_query(
    source: TableName, projections: list[exp.Expression], where: list[exp.Expression]
) -> exp.Select:
    """``SELECT projections FROM source WHERE ...`` for the DataFrame-style API."""
    table = exp.Table(
        this=exp.to_identifier(source.table),
        db=exp.to_identifier(source.schema),
        catalog=exp.to_identifier(source.catalog),
    )
    select = exp.select(*(p.copy() for p in projections or [exp.Star()])).from_(table)
    for condition in where:
        select = select.where(condition.copy())
    return select


def streamed_table(query: exp.Expression) -> tuple[exp.Expression, exp.Table]:
    """Replace the one ``STREAM(t)`` of a SQL query by ``t``; returns the query and ``t``."""
    from lakeinfer.errors import AnalysisError

    query = query.copy()
    streams = list(query.find_all(exp.Stream))
    if len(streams) != 1:
        raise AnalysisError("a streaming table reads exactly one STREAM(catalog.schema.table)")
    (stream,) = streams
    inner, alias = stream.this, None
    while isinstance(inner, exp.Subquery | exp.Paren):
        alias = inner.args.get("alias") or alias  # STREAM(t) AS a
        inner = inner.this
    if not isinstance(inner, exp.Table):
        raise AnalysisError(
            f"STREAM() takes a table name, got {stream.sql(dialect='databricks')[:80]}"
        )
    if alias is not None and not inner.args.get("alias"):
        inner.set("alias", alias.copy())
    stream.replace(inner)
    return query, inner
