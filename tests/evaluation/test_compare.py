"""Joining predictions with ground truth and scoring them, through a session."""

from __future__ import annotations

import json
from decimal import Decimal

import pyarrow as pa
import pytest

from lakeinfer.errors import AnalysisError
from lakeinfer.evaluation import compare, evaluate
from lakeinfer.evaluation.compare import infer_kind, parse_structured


def test_evaluate_tables_gives_known_metrics(lakehouse):
    result = evaluate(lakehouse, "preds", "main.default.truth", "id")
    assert result.coverage == {
        "rows": 4,
        "predicted": 3,
        "parsed": 2,
        "missing": 1,
        "errors": 0,
        "parse_failures": 1,
        "empty": 0,
        "extra_predictions": 1,
    }
    kinds = {f.name: f.kind for f in result.fields}
    assert kinds == {"name": "text", "price": "numeric", "tags": "list", "sentiment": "label"}
    # name: "kettle" and "Lamp!" match normalised, neither exactly; rows 3 and 4 have nothing
    assert result.metric("name", "exact_match") == 0.0
    assert result.metric("name", "normalized_match") == 0.5
    assert result.metric("name", "present") == 0.5
    # price: 20.1 is within 1% of 20.0; "15.5" reads as 15.5
    assert result.metric("price", "within_tolerance") == 0.5
    assert result.metric("price", "mean_abs_error") == pytest.approx(0.05)
    # tags: TP 2, FP 1 (desk), FN 3 (steel, office, wood); row F1s 2/3, 2/3, 0, 1 (both empty)
    assert result.metric("tags", "precision") == pytest.approx(2 / 3)
    assert result.metric("tags", "recall") == pytest.approx(2 / 5)
    assert result.metric("tags", "f1") == pytest.approx(0.5)
    assert result.metric("tags", "macro_f1") == pytest.approx((2 / 3 + 2 / 3 + 0 + 1) / 4)
    # sentiment: one right of four; positive P 1/2 R 1/3, negative P 0 R 0
    assert result.metric("sentiment", "accuracy") == 0.25
    assert result.metric("sentiment", "macro_f1") == pytest.approx(0.2)
    confusion = result.fields[3].classification
    assert confusion.labels == ["positive", "negative", "<missing>"]
    assert confusion.matrix == [[1, 0, 2], [1, 0, 0], [0, 0, 0]]
    assert result.score == pytest.approx((0.5 + 0.5 + 7 / 12 + 0.25) / 4)


def test_worst_rows_come_first_with_their_status(lakehouse):
    result = evaluate(lakehouse, "preds", "truth", "id")
    worst = result.worst(3)
    assert [r.key for r in worst] == [3, 4, 2]
    assert worst[0].status == "unparseable" and "not JSON" in worst[0].error
    assert worst[0].score == 0.0
    # a missing prediction still matches an empty expected list
    assert worst[1].status == "missing" and worst[1].score == 0.25
    assert worst[2].scores == {"name": 1.0, "price": 1.0, "tags": 2 / 3, "sentiment": 0.0}


def test_predictions_from_a_query_with_struct_envelopes(lakehouse):
    query = (
        "SELECT id, CASE WHEN id = 2 THEN named_struct('result', CAST(NULL AS STRING), "
        "'errorMessage', 'HTTP 500 from endpoint') ELSE named_struct('result', "
        "'{\"sentiment\": \"positive\"}', 'errorMessage', CAST(NULL AS STRING)) END AS r "
        "FROM truth"
    )
    result = evaluate(lakehouse, query, "truth", "id", fields=["sentiment"])
    assert result.coverage["errors"] == 1
    assert result.coverage["parsed"] == 3
    assert result.metric("sentiment", "accuracy") == 0.75
    failed = next(r for r in result.rows if r.key == 2)
    assert failed.status == "error" and failed.error == "HTTP 500 from endpoint"


def test_field_columns_and_explicit_kinds():
    truth = pa.table({"k": ["a", "b"], "qty": ["10", "7"], "city": ["Paris", "Rome"]})
    preds = pa.table({"k": ["a", "b"], "qty": ["10.0", "8"], "city": ["paris", "Rome"]})
    result = compare(preds, truth, "k", fields=["qty:numeric", "city:exact"])
    assert [f.kind for f in result.fields] == ["numeric", "exact"]
    assert result.fields[0].metrics["within_tolerance"] == 0.5
    assert result.fields[1].metrics["score"] == 0.5


def test_nested_fields_and_struct_columns():
    truth = pa.table({"k": [1, 2], "gt": [{"a": {"b": 1}}, {"a": {"b": 2}}]})
    preds = pa.table({"k": [1, 2], "p": ['{"a": {"b": 1}}', '{"a": {"c": 2}}']})
    result = compare(preds, truth, "k", fields=["a.b"])
    assert result.fields[0].kind == "numeric"
    assert result.fields[0].metrics["present"] == 0.5
    assert result.fields[0].metrics["score"] == 0.5


def test_results_land_in_delta_tables(lakehouse):
    result = evaluate(lakehouse, "preds", "truth", "id")
    result.write(lakehouse, "main.default.eval_results", rows_table="eval_rows")
    result.write(lakehouse)  # a second run appends
    scores = lakehouse.sql(
        "SELECT field, value FROM main.default.eval_results "
        "WHERE metric = 'score' AND kind <> 'overall' ORDER BY field"
    ).to_pylist()
    assert len(scores) == 8
    assert {"field": "sentiment", "value": 0.25} in scores
    rows = lakehouse.sql("SELECT key, status, predicted FROM eval_rows ORDER BY key").to_pylist()
    assert [(r["key"], r["status"]) for r in rows] == [
        ("1", "ok"),
        ("2", "ok"),
        ("3", "unparseable"),
        ("4", "missing"),
    ]
    assert json.loads(rows[0]["predicted"])["name"] == "kettle"


@pytest.mark.parametrize(
    ("preds", "message"),
    [
        (pa.table({"id": [1, 1], "r": ["{}", "{}"]}), "key 1 appears more than once"),
        (pa.table({"other": [1], "r": ["{}"]}), "no key column 'id'"),
        (pa.table({"id": [None], "r": ["{}"]}), "row 1 has a NULL key"),
    ],
)
def test_bad_predictions_name_the_problem(preds, message):
    truth = pa.table({"id": [1], "gt": ['{"x": 1}']})
    with pytest.raises(AnalysisError, match=message):
        compare(preds, truth, "id")


def test_bad_ground_truth_and_fields_name_the_problem():
    preds = pa.table({"id": [1], "r": ['{"x": 1}']})
    with pytest.raises(AnalysisError, match="ground truth for key 1 is not usable: not JSON"):
        compare(preds, pa.table({"id": [1], "gt": ["{oops"]}), "id")
    truth = pa.table({"id": [1], "gt": ['{"x": 1}']})
    with pytest.raises(AnalysisError, match=r"field 'y' is in no ground-truth row \(fields: x\)"):
        compare(preds, truth, "id", fields=["y"])
    with pytest.raises(AnalysisError, match="unknown field kind 'fuzzy'"):
        compare(preds, truth, "id", fields=["x:fuzzy"])


def test_parse_structured_and_kind_inference():
    assert parse_structured('```\n{"a": 1}\n```') == ("ok", {"a": 1}, None)
    assert parse_structured("[1, 2]")[0:2] == ("unparseable", None)
    assert parse_structured("  ")[0] == "empty"
    assert parse_structured(None)[0] == "empty"
    assert infer_kind([["a"], None]) == "list"
    assert infer_kind([True, False]) == "label"
    assert infer_kind(["a", "b", "a", "b"]) == "label"
    assert infer_kind(["a long answer", "another"]) == "text"
    assert infer_kind([1, 2.5]) == "numeric"


def test_single_plain_columns_compare_as_one_field_whatever_their_names():
    truth = pa.table({"id": [1, 2, 3, 4], "label": ["spam", "ham", "ham", "spam"]})
    preds = pa.table({"id": [1, 2, 3, 4], "prediction": ["Spam", "ham", "spam", "spam"]})
    result = compare(preds, truth, "id")
    assert [(f.name, f.kind) for f in result.fields] == [("label", "label")]
    assert result.fields[0].metrics["accuracy"] == 0.75
    assert result.fields[0].classification.matrix == [[2, 0], [1, 1]]


def test_decimal_ground_truth_compares_by_value():
    prices = pa.array([Decimal("4.20"), Decimal("7.50")], pa.decimal128(5, 2))
    truth = pa.table({"k": ["a", "b"], "price": prices})
    preds = pa.table({"k": ["a", "b"], "price": [4.2, 7.4]})
    result = compare(preds, truth, "k")
    field = result.fields[0]
    assert field.kind == "numeric"  # 4.20 is a number, not a value to match exactly
    assert field.metrics["exact_match"] == 0.5  # 4.2 equals DECIMAL 4.20
    assert field.metrics["within_tolerance"] == 0.5  # 7.4 is 1.3% off 7.50
