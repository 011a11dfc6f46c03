"""The metric functions on hand-built values with known answers."""

from __future__ import annotations

import pytest

from lakeinfer.evaluation import metrics as m


def test_normalize_text_folds_case_punctuation_spaces_and_unicode():
    assert m.normalize_text("  Hello,   World! ") == "hello world"
    assert m.normalize_text("Ｃａｆé") == "café"  # full-width letters (NFKC)
    assert m.normalize_text(True) == "true"
    assert m.normalize_text(3.0) == "3"
    assert m.normalize_text(None) is None


def test_exact_and_normalized_match():
    assert m.exact_match(1, 1.0)
    assert not m.exact_match(True, 1)
    assert not m.exact_match("Paris", "paris")
    assert m.normalized_match("Paris.", " paris")
    assert m.normalized_match(None, None)
    assert not m.normalized_match(None, "paris")


def test_numeric_match_tolerances_and_numeric_strings():
    assert m.to_number("$1,234.50") == 1234.5
    assert m.to_number("40%") == 40.0
    assert m.to_number("n/a") is None
    assert m.to_number(True) is None
    assert m.numeric_match(101, 100, rel_tol=0.01)
    assert not m.numeric_match(101.5, 100, rel_tol=0.01)
    assert m.numeric_match("10.4", 10, abs_tol=0.5)
    assert not m.numeric_match("ten", 10, abs_tol=100)
    assert not m.numeric_match(None, 10)
    assert m.numeric_match(None, None)


def test_list_overlap_is_a_normalised_multiset():
    score = m.list_overlap(["Red", "blue", "blue"], ["red", "blue", "green"])
    assert (score.true_positives, score.false_positives, score.false_negatives) == (2, 1, 1)
    assert score.precision == pytest.approx(2 / 3)
    assert score.recall == pytest.approx(2 / 3)
    assert score.f1 == pytest.approx(2 / 3)
    empty = m.list_overlap(None, [])
    assert (empty.precision, empty.recall, empty.f1) == (1.0, 1.0, 1.0)
    scalar = m.list_overlap("red", ["red", "blue"])
    assert (scalar.precision, scalar.recall) == (1.0, 0.5)


def test_micro_average_adds_counts():
    total = m.micro_list_scores([m.ListScore(2, 0, 1), m.ListScore(0, 2, 1)])
    assert total == m.ListScore(2, 2, 2)
    assert total.precision == 0.5 and total.recall == 0.5 and total.f1 == 0.5


def test_classification_confusion_matrix_accuracy_and_macro_f1():
    expected = ["pos", "pos", "neg", "neg", "neutral"]
    predicted = ["pos", "neg", "neg", None, "pos"]
    result = m.classification(predicted, expected)
    assert result.labels == ["pos", "neg", "neutral", "<missing>"]
    assert result.matrix == [
        [1, 1, 0, 0],
        [0, 1, 0, 1],
        [1, 0, 0, 0],
        [0, 0, 0, 0],
    ]
    assert result.accuracy == 2 / 5
    per_class = result.per_class()
    assert per_class["pos"] == (0.5, 0.5, 0.5, 2)
    assert per_class["neg"] == (0.5, 0.5, 0.5, 2)
    assert per_class["neutral"] == (0.0, 0.0, 0.0, 1)
    assert result.macro_f1 == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="2 predictions for 1"):
        m.classification(["a", "b"], ["a"])


def test_percentile_interpolates_like_numpy():
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert m.percentile(values, 50) == 30.0
    assert m.percentile(values, 90) == 46.0
    assert m.percentile(values, 99) == pytest.approx(49.6)
    assert m.percentile([], 50) is None
    assert m.mean([1, 2, 3, 6]) == 3.0
