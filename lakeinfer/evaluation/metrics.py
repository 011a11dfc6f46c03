"""Pure metric functions for comparing predicted values with ground truth.

Every function takes plain Python values (already parsed from JSON or Arrow) and returns plain
numbers, so they are easy to test and to reuse outside lakeinfer. ``None`` stands for a missing
value: a missing prediction never matches a present ground truth.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from numbers import Number
from typing import Any

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize_text(value: Any) -> str | None:
    """Case-folded, Unicode-normalised (NFKC) text without punctuation or repeated spaces.

    ``"  Hello,   World! "`` and ``"hello world"`` normalise to the same string. Numbers and
    booleans are normalised through their JSON spelling (``True`` -> ``"true"``).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def exact_match(predicted: Any, expected: Any) -> bool:
    """Equal values; numbers compare by value (``1 == 1.0``, a DECIMAL ``4.20 == 4.2``) but
    never equal booleans."""
    if isinstance(predicted, bool) != isinstance(expected, bool):
        return False
    if is_number(predicted) and is_number(expected):
        return float(predicted) == float(expected)
    return bool(predicted == expected)


def is_number(value: Any) -> bool:
    """An int, float or Decimal (a DECIMAL column's value), not a boolean."""
    return isinstance(value, Number) and not isinstance(value, bool)


def normalized_match(predicted: Any, expected: Any) -> bool:
    """Equal after :func:`normalize_text` (both missing also counts as equal)."""
    return normalize_text(predicted) == normalize_text(expected)


def to_number(value: Any) -> float | None:
    """A float from a number or a numeric string (``"1,234.5"``, ``"$12"``, ``"40%"``);
    None when the value is missing or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if is_number(value):
        return float(value)
    text = str(value).strip().replace(",", "").lstrip("$€£").rstrip("%").strip()
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def numeric_match(
    predicted: Any, expected: Any, *, abs_tol: float = 0.0, rel_tol: float = 0.0
) -> bool:
    """``|predicted - expected| <= abs_tol + rel_tol * |expected|``.

    Non-numeric or missing values never match (unless both are missing).
    """
    p, e = to_number(predicted), to_number(expected)
    if p is None or e is None:
        return p is None and e is None and predicted is None and expected is None
    return abs(p - e) <= abs_tol + rel_tol * abs(e)


@dataclass(frozen=True)
class ListScore:
    """Overlap of a predicted list with the expected one, items compared normalised."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        """Share of predicted items that are expected (1.0 when nothing was predicted)."""
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """Share of expected items that were predicted (1.0 when nothing was expected)."""
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0

    @property
    def f1(self) -> float:
        return f1_score(self.precision, self.recall)


def f1_score(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall (0 when both are 0)."""
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0


def as_list(value: Any) -> list[Any]:
    """A list from a list, a tuple, a scalar (one item) or None (no items)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def list_overlap(predicted: Any, expected: Any) -> ListScore:
    """Multiset overlap of two lists after :func:`normalize_text` of each item.

    ``["Red", "blue", "blue"]`` against ``["red", "blue", "green"]`` gives 2 true positives
    (red, one blue), 1 false positive (the second blue) and 1 false negative (green).
    """
    p = Counter(normalize_text(v) for v in as_list(predicted) if v is not None)
    e = Counter(normalize_text(v) for v in as_list(expected) if v is not None)
    tp = sum((p & e).values())
    return ListScore(tp, sum(p.values()) - tp, sum(e.values()) - tp)


def micro_list_scores(scores: Iterable[ListScore]) -> ListScore:
    """All rows' counts added up, for micro-averaged precision, recall and F1."""
    tp = fp = fn = 0
    for score in scores:
        tp += score.true_positives
        fp += score.false_positives
        fn += score.false_negatives
    return ListScore(tp, fp, fn)


@dataclass(frozen=True)
class Classification:
    """Accuracy and confusion matrix of predicted labels against expected labels.

    ``labels`` are the expected labels in order of first appearance followed by any label only
    ever predicted (including ``"<missing>"`` for absent predictions); ``matrix[i][j]`` counts
    rows whose expected label is ``labels[i]`` and predicted label is ``labels[j]``.
    """

    labels: list[str]
    matrix: list[list[int]]

    @property
    def total(self) -> int:
        return sum(sum(row) for row in self.matrix)

    @property
    def correct(self) -> int:
        return sum(self.matrix[i][i] for i in range(len(self.labels)))

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def per_class(self) -> dict[str, tuple[float, float, float, int]]:
        """``label -> (precision, recall, f1, support)`` for each expected label."""
        out = {}
        for i, label in enumerate(self.labels):
            support = sum(self.matrix[i])
            if support == 0:
                continue
            predicted = sum(row[i] for row in self.matrix)
            tp = self.matrix[i][i]
            precision = tp / predicted if predicted else 0.0
            recall = tp / support
            out[label] = (precision, recall, f1_score(precision, recall), support)
        return out

    @property
    def macro_f1(self) -> float:
        """Unweighted mean F1 over the expected labels."""
        scores = [f1 for _, _, f1, _ in self.per_class().values()]
        return sum(scores) / len(scores) if scores else 0.0


MISSING_LABEL = "<missing>"


def label_of(value: Any) -> str:
    """The label a value stands for: normalised text, ``"<missing>"`` for None."""
    text = normalize_text(value)
    return MISSING_LABEL if text is None else text


def classification(predicted: Sequence[Any], expected: Sequence[Any]) -> Classification:
    """Confusion matrix of two equally long label sequences (labels compared normalised)."""
    if len(predicted) != len(expected):
        raise ValueError(f"{len(predicted)} predictions for {len(expected)} expected labels")
    p_labels = [label_of(v) for v in predicted]
    e_labels = [label_of(v) for v in expected]
    labels = list(dict.fromkeys(e_labels))
    labels += [label for label in dict.fromkeys(p_labels) if label not in labels]
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for p, e in zip(p_labels, e_labels, strict=True):
        matrix[index[e]][index[p]] += 1
    return Classification(labels, matrix)


def mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean; None for no values."""
    items = list(values)
    return sum(items) / len(items) if items else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks,
    as numpy's default; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
