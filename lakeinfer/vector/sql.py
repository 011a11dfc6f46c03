"""SQL for vector indexes: the statements and the ``vector_search`` table function.

Statements (parsed by :mod:`lakeinfer.vector.syntax`)::

    CREATE [OR REPLACE] VECTOR INDEX [IF NOT EXISTS] name ON table (column) [USING endpoint]
    DROP VECTOR INDEX [IF EXISTS] name
    REFRESH VECTOR INDEX name
    SHOW VECTOR INDEXES

Names resolve in the current catalog and schema like table names. Without ``USING`` the index
embeds with the embedded all-MiniLM-L6-v2. The table function::

    SELECT * FROM vector_search(index => 'name', query_text => 'text', num_results => 5)

(or ``query_vector => array(...)``) returns the indexed table's columns and ``search_score``
(cosine similarity), most similar first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace, TableName
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.errors import AnalysisError
from lakeinfer.sql.arguments import Kind, Parameter, Signature, bind, evaluate_constant
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
        Parameter("index", Kind.CONSTANT, required=True),
        *(
            Parameter(n, Kind.CONSTANT)
            for n in ("query_text", "num_results", "query_vector", "query_type")
        ),
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
    """Evaluate one ``vector_search(...)`` call of a FROM clause."""
    where = position_of(node)
    args = bind(node, SEARCH)

    def value(name: str):
        return evaluate_constant(runner.con, args[name], f"vector_search{where}: {name}")

    index = value("index")
    if not isinstance(index, str):
        raise AnalysisError(f"vector_search{where}: index must be a string (the index name)")
    if ("query_text" in args) == ("query_vector" in args):
        raise AnalysisError(f"vector_search{where}: give exactly one of query_text, query_vector")
    text = vector = None
    if "query_text" in args:
        text = value("query_text")
        if not isinstance(text, str):
            raise AnalysisError(f"vector_search{where}: query_text must be a string")
    else:
        vector = value("query_vector")
        if not isinstance(vector, list) or not vector or None in vector:
            raise AnalysisError(
                f"vector_search{where}: query_vector must be a non-empty ARRAY of numbers"
            )
        vector = [float(v) for v in vector]
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
    return VectorIndexes(runner.catalog).search(
        name, ai, query_text=text, query_vector=vector, num_results=count
    )
