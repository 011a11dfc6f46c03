"""ai_evaluate(...): the evaluation as a SQL table function."""

from __future__ import annotations

import pytest

from lakeinfer.errors import AnalysisError


def _metric(rows, field, metric):
    (value,) = [r["value"] for r in rows if r["field"] == field and r["metric"] == metric]
    return value


def test_ai_evaluate_in_sql_gives_the_same_metrics_as_python(lakehouse):
    rows = lakehouse.sql(
        "SELECT * FROM ai_evaluate(predictions => 'SELECT id, r FROM preds', "
        "ground_truth => 'main.default.truth', key => 'id')"
    ).to_pylist()
    assert _metric(rows, "name", "normalized_match") == 0.5
    assert _metric(rows, "price", "within_tolerance") == 0.5
    assert _metric(rows, "tags", "f1") == pytest.approx(0.5)
    assert _metric(rows, "sentiment", "accuracy") == 0.25
    # filtered and projected like any table, with fields chosen by name
    scores = lakehouse.sql(
        "SELECT field, value FROM ai_evaluate('preds', 'truth', 'id', 'price:numeric,tags') "
        "WHERE metric = 'score' AND field IS NOT NULL ORDER BY field"
    ).to_pylist()
    assert [r["field"] for r in scores] == ["price", "tags"]


def test_ai_evaluate_errors_name_the_argument(lakehouse):
    with pytest.raises(AnalysisError, match="missing required argument 'key'"):
        lakehouse.sql("SELECT * FROM ai_evaluate('preds', 'truth')").to_pylist()
    with pytest.raises(AnalysisError, match="ground_truth must be one query or a table name"):
        lakehouse.sql("SELECT * FROM ai_evaluate('preds', 'SELECT 1; SELECT 2', 'id')").to_pylist()


def test_ai_evaluate_reads_doubled_quotes_in_its_query_texts(lakehouse):
    """SQL's escaped quote inside the query text: ``'... WHERE r <> ''x'' ...'``, as the docs
    write ``ai_query(''my-llm'', ...)``; Spark's backslash escape works as well."""
    for quoted in ("''none''", "\\'none\\'"):
        rows = lakehouse.sql(
            "SELECT * FROM ai_evaluate(predictions => "
            f"'SELECT id, r FROM preds WHERE r <> {quoted}', ground_truth => 'truth', key => 'id')"
        ).to_pylist()
        assert _metric(rows, "name", "normalized_match") == 0.5
    with pytest.raises(AnalysisError, match="key must be a string literal"):
        lakehouse.sql("SELECT * FROM ai_evaluate('preds', 'truth', key => 1)").to_pylist()
