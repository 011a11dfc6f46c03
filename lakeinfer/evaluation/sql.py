"""``ai_evaluate(...)``: the evaluation against ground truth as a SQL table function.

    SELECT field, metric, value
    FROM ai_evaluate(predictions => 'SELECT id, ai_query(...) AS r FROM docs',
                     ground_truth => 'main.default.docs_truth', key => 'id',
                     fields => 'name,price:numeric,tags')
    WHERE metric = 'score'

Each of ``predictions`` and ``ground_truth`` is a table name or a query; the rows are the
metrics ``lakeinfer eval`` appends to its results table (one row per field and metric). The
queries run in the same statement, so AI calls in them are cached, budgeted and recorded as
usual. Model-judged metrics and the HTML report stay with ``lakeinfer eval``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.errors import AnalysisError
from lakeinfer.sql.parse import parse_statements, position_of

if TYPE_CHECKING:
    from lakeinfer.engine.query import QueryRunner

ARGUMENTS = ("predictions", "ground_truth", "key", "fields")
_QUERY = re.compile(r"^\s*(select|with|values|from|\()\b", re.IGNORECASE)


def ai_evaluate(
    runner: QueryRunner, node: exp.Expression, namespace: Namespace, ai: AiEvaluator
) -> pa.Table:
    """The metrics rows of one ``ai_evaluate(...)`` call."""
    from lakeinfer.engine.table_functions import bind
    from lakeinfer.evaluation.api import Evaluation
    from lakeinfer.evaluation.compare import compare

    bound = bind("ai_evaluate", node, ARGUMENTS, ARGUMENTS[:3])
    where = position_of(node)
    text: dict[str, str] = {}
    for name, value in bound.items():
        literal = _string(value)
        if literal is None:
            raise AnalysisError(f"ai_evaluate{where}: {name} must be a string literal")
        text[name] = literal
    predictions = _rows(runner, text["predictions"], namespace, ai, "predictions")
    truth = _rows(runner, text["ground_truth"], namespace, ai, "ground_truth")
    fields = [f.strip() for f in text.get("fields", "").split(",") if f.strip()]
    comparison = compare(predictions, truth, text["key"], fields=fields or None)
    return Evaluation(comparison, text["predictions"], text["ground_truth"]).to_arrow()


def _string(value: exp.Expression) -> str | None:
    """The text of a string literal. The parser reads ``'a''b'`` as the chained literals
    ``'a' 'b'`` (as Spark does); in these arguments, which hold SQL text, the doubled quote is
    SQL's escaped quote (``'... ai_query(''my-llm'', ...) ...'``), so the parts join with ``'``."""
    if isinstance(value, exp.Literal) and value.is_string:
        return value.name
    parts = value.expressions if isinstance(value, exp.Concat) else []
    if parts and all(isinstance(p, exp.Literal) and p.is_string for p in parts):
        return "'".join(p.name for p in parts)
    return None


def _rows(
    runner: QueryRunner, source: str, namespace: Namespace, ai: AiEvaluator, what: str
) -> pa.Table:
    source = source.strip()
    if not source:
        raise AnalysisError(f"ai_evaluate: {what} needs a table name or a query")
    if _QUERY.match(source) or " " in source:
        statements = parse_statements(source)
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise AnalysisError(f"ai_evaluate: {what} must be one query or a table name")
        return runner.run(statements[0], namespace, ai)
    name = DeltaCatalog.qualify(source.split("."), namespace)
    return runner.catalog.dataset(name).to_table()
