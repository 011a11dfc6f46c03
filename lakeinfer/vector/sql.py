"""SQL for vector indexes: the statements and the ``vector_search`` table function.

Statements (parsed by :mod:`lakeinfer.vector.syntax`)::

    CREATE [OR REPLACE] VECTOR INDEX [IF NOT EXISTS] name ON table (column) [USING endpoint]
    DROP VECTOR INDEX [IF EXISTS] name
    REFRESH VECTOR INDEX name
    SHOW VECTOR INDEXES

Names resolve in the current catalog and schema like table names. Without ``USING`` the index
embeds with the embedded all-MiniLM-L6-v2. The table function::

    SELECT * FROM vector_search(index => 'name', query_text => 'text', num_results => 5)

(or ``query_vector => array(...)``; ``query =>`` is the older name of ``query_text``) returns
the indexed table's columns and ``search_score`` (cosine similarity), most similar first.
Arguments are named only. ``index``, ``num_results`` and ``query_type`` are constants; the
query may refer to the columns of an earlier table inside ``LATERAL``, one search per outer
row (the distinct query texts are embedded in one call)::

    SELECT q.query_txt, s.* FROM query_table q,
      LATERAL (SELECT * FROM vector_search(index => 'name', query_text => q.query_txt)) AS s
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace, TableName
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.engine.table_functions import ROW
from lakeinfer.errors import AnalysisError
from lakeinfer.sql.arguments import (
    Kind,
    Parameter,
    Signature,
    bind,
    call_arguments,
    evaluate_constant,
)
from lakeinfer.sql.dialect import NAME
from lakeinfer.sql.parse import position_of
from lakeinfer.sql.semantic import DEFAULT_EMBED_ENDPOINT
from lakeinfer.vector import syntax
from lakeinfer.vector.index import DEFAULT_RESULTS, VectorIndexes

if TYPE_CHECKING:
    from lakeinfer.engine.query import QueryRunner

SEARCH = Signature(
    "vector_search",
    (
        Parameter("index", Kind.CONSTANT, required=True, positional=False),
        # the query: a constant, or a column of an earlier table inside LATERAL
        Parameter("query_text", positional=False, aliases=("query",)),
        Parameter("query_vector", positional=False),
        Parameter("num_results", Kind.CONSTANT, positional=False),
        Parameter("query_type", Kind.CONSTANT, positional=False),
    ),
)


def execute(
    catalog: DeltaCatalog, namespace: Namespace, statement: exp.Expression, ai: AiEvaluator
) -> pa.Table:
    """Run one parsed vector index statement; returns its result rows."""
    indexes = VectorIndexes(catalog)
    if isinstance(statement, syntax.ShowVectorIndexes):
        return listing(indexes)
    name = _name(statement.this, namespace)
    if isinstance(statement, syntax.CreateVectorIndex):
        endpoint = statement.args.get("endpoint")
        info = indexes.create(
            name,
            _name(statement.args["table"], namespace),
            statement.args["column"].name,
            endpoint.name if endpoint is not None else DEFAULT_EMBED_ENDPOINT,
            ai,
            if_not_exists=bool(statement.args.get("exists")),
            replace=bool(statement.args.get("replace")),
        )
        return listing(indexes, [info] if info is not None else [])
    if isinstance(statement, syntax.DropVectorIndex):
        indexes.drop(name, if_exists=bool(statement.args.get("exists")))
        return pa.table({})
    if not isinstance(statement, syntax.RefreshVectorIndex):
        raise AnalysisError(f"not a vector index statement: {statement.sql(dialect=NAME)[:80]}")
    indexes.refresh(name, ai, force=True)
    return listing(indexes, [indexes.info(name)])


def listing(indexes: VectorIndexes, infos: list | None = None) -> pa.Table:
    """Indexes as rows (all of them unless ``infos`` is given)."""
    infos = indexes.list() if infos is None else infos
    return pa.table(
        {
            "name": pa.array([i.name for i in infos], pa.string()),
            "table": pa.array([i.table for i in infos], pa.string()),
            "column": pa.array([i.column for i in infos], pa.string()),
            "endpoint": pa.array([i.endpoint for i in infos], pa.string()),
            "version": pa.array([i.version for i in infos], pa.int64()),
            "rows": pa.array([i.rows for i in infos], pa.int64()),
            "dimensions": pa.array([i.dimensions for i in infos], pa.int32()),
        }
    )


def _name(table: exp.Table, namespace: Namespace) -> TableName:
    return DeltaCatalog.qualify([p.name for p in table.parts], namespace)


def vector_search(
    runner: QueryRunner, node: exp.Expression, namespace: Namespace, ai: AiEvaluator
) -> pa.Table:
    """Evaluate one ``vector_search(...)`` call of a FROM clause whose query is a constant."""
    return _search(runner, node, namespace, ai, None)[0]


def vector_search_each(
    runner: QueryRunner, node: exp.Expression, namespace: Namespace, ai: AiEvaluator, keys: pa.Table
) -> pa.Table:
    """Evaluate a ``vector_search(...)`` call inside ``LATERAL`` for each row of ``keys`` (the
    distinct values of its query, which ``node`` names as ``keys``' columns): the rows of
    every search, each with the number of its key row."""
    found = _search(runner, node, namespace, ai, keys)
    rows = pa.array([i for i, t in enumerate(found) for _ in range(t.num_rows)], pa.int64())
    return pa.concat_tables(found).add_column(0, ROW, rows)


def _search(
    runner: QueryRunner,
    node: exp.Expression,
    namespace: Namespace,
    ai: AiEvaluator,
    keys: pa.Table | None,
) -> list[pa.Table]:
    """The results of ``node``'s search, one table per row of ``keys`` (one table when the
    query is a constant, one empty table when ``keys`` has no rows)."""
    where = position_of(node)
    if any(not isinstance(a, (exp.Kwarg, exp.PropertyEQ)) for a in call_arguments(node)):
        raise AnalysisError(
            f"vector_search{where}: arguments must be named, e.g. vector_search(index => "
            "'my_index', query_text => 'text', num_results => 5)"
        )
    args = bind(node, SEARCH)

    def value(name: str):
        return evaluate_constant(runner.con, args[name], f"vector_search{where}: {name}")

    def values(name: str) -> list:
        argument = args[name]
        if keys is not None and isinstance(argument, exp.Column):
            if argument.name in keys.column_names and not argument.table:
                return keys.column(argument.name).to_pylist() or [None]
        if keys is None and argument.find(exp.Column) is not None:
            raise AnalysisError(
                f"vector_search{where}: {name} refers to a column; use the call inside "
                "LATERAL after the table that has it"
            )
        return [value(name)]

    index = value("index")
    if not isinstance(index, str):
        raise AnalysisError(f"vector_search{where}: index must be a string (the index name)")
    if ("query_text" in args) == ("query_vector" in args):
        raise AnalysisError(f"vector_search{where}: give exactly one of query_text, query_vector")
    texts = vectors = None
    if "query_text" in args:
        texts = values("query_text")
        if any(t is not None and not isinstance(t, str) for t in texts):
            raise AnalysisError(f"vector_search{where}: query_text must be a string")
        if keys is None and texts == [None]:
            raise AnalysisError(f"vector_search{where}: query_text must not be NULL")
    else:
        vectors = values("query_vector")
        for vector in vectors:
            if vector is None and keys is not None:
                continue
            if not isinstance(vector, list) or not vector or None in vector:
                raise AnalysisError(
                    f"vector_search{where}: query_vector must be a non-empty ARRAY of numbers"
                )
        vectors = [None if v is None else [float(x) for x in v] for v in vectors]
    if "query_type" in args:
        kind = value("query_type")
        if not isinstance(kind, str) or kind.upper() != "ANN":
            raise AnalysisError(
                f"vector_search{where}: query_type {kind!r} is not supported (only 'ANN')"
            )
    count = DEFAULT_RESULTS
    if "num_results" in args:
        count = value("num_results")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise AnalysisError(f"vector_search{where}: num_results must be a non-negative INT")
    name = DeltaCatalog.qualify(index.split("."), namespace)
    return VectorIndexes(runner.catalog).search_many(
        name, ai, texts=texts, vectors=vectors, num_results=count
    )
