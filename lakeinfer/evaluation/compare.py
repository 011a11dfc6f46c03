"""Join predictions with ground truth by key and score each field.

Predictions and ground truth are read through a :class:`~lakeinfer.session.Session`: each is a
table name (``main.default.preds``) or a SQL query (``SELECT id, ai_query(...) AS r FROM t``).
A structured value is, per row, either

* one column holding a STRUCT or a JSON string (``--prediction-column``; the default when the
  table has a single column besides the key), including ai_query's ``failOnError => false``
  envelope ``STRUCT<result, errorMessage>`` and JSON wrapped in Markdown code fences, or
* the row's other columns, one field each (also a single column of plain values, such as a
  label; when both sides have one such column they are compared whatever their names).

Scores are over all ground-truth rows: a prediction that is missing, failed or cannot be parsed
scores 0 on every field (unless the expected value is missing too) and is counted under
coverage. Field kinds decide the comparison; they are inferred from the ground truth unless
given (``price:numeric``):

=========  =================================================================================
exact      values equal (numbers by value)
text       equal after normalisation (case, Unicode, punctuation, spaces)
numeric    within ``abs_tol + rel_tol * |expected|``; also mean absolute error
list       multiset precision / recall / F1 of normalised items (micro and macro)
label      classification: accuracy, macro F1, confusion matrix
=========  =================================================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from lakeinfer.errors import AnalysisError
from lakeinfer.evaluation import metrics as m

if TYPE_CHECKING:
    import pyarrow as pa

    from lakeinfer.session import Session

FieldKind = Literal["exact", "text", "numeric", "list", "label"]
KINDS: tuple[str, ...] = ("exact", "text", "numeric", "list", "label")
#: A string field with at most this many distinct expected values is scored as a label.
MAX_LABELS = 20
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_QUERY = re.compile(r"^\s*(select|with|values|from|\()\b", re.IGNORECASE)

RowStatus = Literal["ok", "missing", "error", "unparseable", "empty"]


@dataclass(frozen=True)
class FieldSpec:
    """A field to compare; ``name`` may be a dotted path into nested objects (``a.b``)."""

    name: str
    kind: FieldKind | None = None

    @classmethod
    def parse(cls, text: str) -> FieldSpec:
        """``"price"`` or ``"price:numeric"``."""
        name, _, kind = text.strip().partition(":")
        if not name:
            raise AnalysisError(f"empty field name in {text!r}")
        if kind and kind not in KINDS:
            raise AnalysisError(
                f"unknown field kind {kind!r} for field {name!r}; use one of {', '.join(KINDS)}"
            )
        return cls(name, kind or None)  # type: ignore[arg-type]


@dataclass
class RowResult:
    """One ground-truth row: what was expected, what was predicted, and how it scored."""

    key: Any
    status: RowStatus
    expected: dict[str, Any]
    predicted: dict[str, Any] | None
    error: str | None = None
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Mean of the field scores (0..1)."""
        return sum(self.scores.values()) / len(self.scores) if self.scores else 0.0


@dataclass
class FieldResult:
    """The metrics of one field over all ground-truth rows."""

    name: str
    kind: FieldKind
    metrics: dict[str, float]
    classification: m.Classification | None = None
    numeric_errors: list[float] = field(default_factory=list)


@dataclass
class Comparison:
    """Fields, coverage and rows of one evaluation (before any model-judged metrics)."""

    key: str
    fields: list[FieldResult]
    coverage: dict[str, int]
    rows: list[RowResult]

    @property
    def score(self) -> float:
        """Mean of the per-field scores."""
        scores = [f.metrics["score"] for f in self.fields]
        return sum(scores) / len(scores) if scores else 0.0

    def worst(self, n: int = 10) -> list[RowResult]:
        """The ``n`` lowest-scoring rows that are not perfect, worst first."""
        imperfect = [r for r in self.rows if r.score < 1.0]
        return sorted(imperfect, key=lambda r: (r.score, str(r.key)))[:n]


def load_rows(session: Session, source: str, what: str) -> pa.Table:
    """Rows of a table name or a SQL query (``what`` names the argument in errors)."""
    text = source.strip()
    if not text:
        raise AnalysisError(f"{what}: give a table name or a SQL query")
    if _QUERY.match(text) or " " in text:
        return session.sql(text).to_arrow()
    return session.table(text).to_arrow()


def text_column(table: pa.Table, column: str | None, what: str) -> str:
    """``column`` if ``table`` has it, else the table's only text column; ``what`` names the
    source in errors (e.g. ``--table``)."""
    if column is None:
        strings = [f.name for f in table.schema if str(f.type) in ("string", "large_string")]
        if len(strings) != 1:
            raise AnalysisError(
                f"{what} has {len(strings)} text columns; name one with --column "
                f"(columns: {', '.join(table.column_names)})"
            )
        return strings[0]
    if column not in table.column_names:
        raise AnalysisError(
            f"{what} has no column {column!r} (columns: {', '.join(table.column_names)})"
        )
    return column


def parse_structured(value: Any) -> tuple[RowStatus, dict[str, Any] | None, str | None]:
    """``(status, object, error)`` for one structured value (STRUCT, JSON text, envelope)."""
    if value is None:
        return "empty", None, "no value"
    if isinstance(value, dict) and set(value) == {"result", "errorMessage"}:
        if value["errorMessage"] is not None:
            return "error", None, str(value["errorMessage"])
        return parse_structured(value["result"])
    if isinstance(value, dict):
        return "ok", value, None
    if isinstance(value, str):
        text = value.strip()
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1).strip()
        if not text:
            return "empty", None, "empty text"
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            return "unparseable", None, f"not JSON ({exc.msg} at character {exc.pos})"
        if not isinstance(parsed, dict):
            return "unparseable", None, f"JSON {type(parsed).__name__}, not an object"
        return "ok", parsed, None
    return "unparseable", None, f"a {type(value).__name__}, not an object or JSON text"


def get_path(obj: dict[str, Any] | None, path: str) -> tuple[bool, Any]:
    """``(present, value)`` of a dotted path inside ``obj``."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return False, None
        current = current[part]
    return True, current


def infer_kind(values: Sequence[Any]) -> FieldKind:
    """The comparison that suits the expected values of a field."""
    present = [v for v in values if v is not None]
    if not present:
        return "exact"
    if all(isinstance(v, (list, tuple)) for v in present):
        return "list"
    if all(isinstance(v, bool) for v in present):
        return "label"
    if all(m.is_number(v) for v in present):
        return "numeric"
    if all(isinstance(v, str) for v in present):
        distinct = {m.normalize_text(v) for v in present}
        if len(distinct) <= MAX_LABELS and len(distinct) * 2 <= len(present):
            return "label"
        return "text"
    return "exact"


def _objects(
    table: pa.Table, key: str, column: str | None, what: str
) -> tuple[list[Any], list[Any], bool]:
    """Keys and raw structured values of ``table``, and whether they are one column of
    objects (True) or the row's other columns as fields (False)."""
    import pyarrow as pa

    if key not in table.column_names:
        raise AnalysisError(
            f"{what} has no key column {key!r} (columns: {', '.join(table.column_names)})"
        )
    others = [c for c in table.column_names if c != key]
    if column is not None and column not in table.column_names:
        raise AnalysisError(
            f"{what} has no column {column!r} (columns: {', '.join(table.column_names)})"
        )
    if column is None and len(others) == 1:
        t = table.schema.field(others[0]).type
        if pa.types.is_struct(t):
            column = others[0]
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            # JSON text (possibly fenced) is structured; plain text is a single field
            values = table.column(others[0]).to_pylist()
            if any(isinstance(v, str) and v.lstrip().startswith(("{", "```")) for v in values):
                column = others[0]
    keys = table.column(key).to_pylist()
    if column is not None:
        return keys, table.column(column).to_pylist(), True
    return keys, table.select(others).to_pylist(), False


def _index(keys: list[Any], values: list[Any], what: str) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for position, (k, v) in enumerate(zip(keys, values, strict=True)):
        if k is None:
            raise AnalysisError(f"{what}: row {position + 1} has a NULL key")
        if k in out:
            raise AnalysisError(f"{what}: key {k!r} appears more than once")
        out[k] = v
    return out


def compare(
    predictions: pa.Table,
    ground_truth: pa.Table,
    key: str,
    *,
    fields: Sequence[FieldSpec | str] | None = None,
    prediction_column: str | None = None,
    truth_column: str | None = None,
    abs_tol: float = 0.0,
    rel_tol: float = 0.01,
) -> Comparison:
    """Score ``predictions`` against ``ground_truth`` (Arrow tables joined on ``key``).

    ``fields`` default to every field of the first ground-truth object, kinds inferred.
    ``abs_tol`` / ``rel_tol`` set the numeric tolerance. Raises :class:`AnalysisError` for a
    missing key column, duplicate or NULL keys, unparseable ground truth, or an unknown field.
    """
    truth_keys, truth_raw, truth_objects = _objects(ground_truth, key, truth_column, "ground truth")
    pred_keys, pred_raw, pred_objects = _objects(predictions, key, prediction_column, "predictions")
    truth_names = [c for c in ground_truth.column_names if c != key]
    pred_names = [c for c in predictions.column_names if c != key]
    if not truth_objects and not pred_objects and len(truth_names) == len(pred_names) == 1:
        # one plain column each (a label, a number): compare them under the ground truth's name
        pred_raw = [{truth_names[0]: row[pred_names[0]]} for row in pred_raw]
    truth = _index(truth_keys, truth_raw, "ground truth")
    preds = _index(pred_keys, pred_raw, "predictions")

    expected: dict[Any, dict[str, Any]] = {}
    for k, raw in truth.items():
        status, obj, error = parse_structured(raw)
        if obj is None:
            raise AnalysisError(f"ground truth for key {k!r} is not usable: {error}")
        expected[k] = obj

    specs = [FieldSpec.parse(f) if isinstance(f, str) else f for f in (fields or [])]
    if not specs:
        first = next(iter(expected.values()), {})
        specs = [FieldSpec(name) for name in first]
    if not specs:
        raise AnalysisError("no fields to compare: the ground truth is empty")
    for spec in specs:
        if expected and not any(get_path(obj, spec.name)[0] for obj in expected.values()):
            known = sorted({name for obj in expected.values() for name in obj})
            raise AnalysisError(
                f"field {spec.name!r} is in no ground-truth row (fields: {', '.join(known)})"
            )

    rows: list[RowResult] = []
    for k, obj in expected.items():
        if k not in preds:
            rows.append(RowResult(k, "missing", obj, None, "no prediction for this key"))
            continue
        status, parsed, error = parse_structured(preds[k])
        rows.append(RowResult(k, status, obj, parsed, error))

    results = [_score_field(spec, rows, abs_tol=abs_tol, rel_tol=rel_tol) for spec in specs]
    statuses = [r.status for r in rows]
    coverage = {
        "rows": len(rows),
        "predicted": sum(s != "missing" for s in statuses),
        "parsed": statuses.count("ok"),
        "missing": statuses.count("missing"),
        "errors": statuses.count("error"),
        "parse_failures": statuses.count("unparseable"),
        "empty": statuses.count("empty"),
        "extra_predictions": sum(1 for k in preds if k not in expected),
    }
    return Comparison(key, results, coverage, rows)


def _score_field(
    spec: FieldSpec, rows: list[RowResult], *, abs_tol: float, rel_tol: float
) -> FieldResult:
    pairs = []
    present = 0
    for row in rows:
        _, e = get_path(row.expected, spec.name)
        found, p = get_path(row.predicted, spec.name)
        present += found
        pairs.append((p, e))
    kind: FieldKind = spec.kind or infer_kind([e for _, e in pairs])
    n = len(pairs)
    exact = [m.exact_match(p, e) for p, e in pairs]
    metrics: dict[str, float] = {
        "exact_match": sum(exact) / n if n else 0.0,
        "present": present / n if n else 0.0,
    }
    result = FieldResult(spec.name, kind, metrics)
    if kind == "exact":
        scores = [float(x) for x in exact]
    elif kind == "text":
        scores = [float(m.normalized_match(p, e)) for p, e in pairs]
        metrics["normalized_match"] = sum(scores) / n if n else 0.0
    elif kind == "numeric":
        scores = [float(m.numeric_match(p, e, abs_tol=abs_tol, rel_tol=rel_tol)) for p, e in pairs]
        metrics["within_tolerance"] = sum(scores) / n if n else 0.0
        errors = []
        for p, e in pairs:
            pn, en = m.to_number(p), m.to_number(e)
            if pn is not None and en is not None:
                errors.append(pn - en)
        result.numeric_errors = errors
        mae = m.mean(abs(x) for x in errors)
        if mae is not None:
            metrics["mean_abs_error"] = mae
    elif kind == "list":
        overlaps = [m.list_overlap(p, e) for p, e in pairs]
        scores = [o.f1 for o in overlaps]
        micro = m.micro_list_scores(overlaps)
        metrics["precision"] = micro.precision
        metrics["recall"] = micro.recall
        metrics["f1"] = micro.f1
        metrics["macro_f1"] = sum(scores) / n if n else 0.0
    else:
        confusion = m.classification([p for p, _ in pairs], [e for _, e in pairs])
        scores = [float(m.label_of(p) == m.label_of(e)) for p, e in pairs]
        metrics["accuracy"] = confusion.accuracy
        metrics["macro_f1"] = confusion.macro_f1
        result.classification = confusion
    metrics["score"] = sum(scores) / n if n else 0.0
    for row, score in zip(rows, scores, strict=True):
        row.scores[spec.name] = score
    return result
