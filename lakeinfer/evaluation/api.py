"""``evaluate()``: the Python entry point, and :class:`Evaluation`, what it returns.

    >>> from lakeinfer.evaluation import evaluate
    >>> result = evaluate(session, "main.default.extractions", "main.default.truth",   # doctest: +SKIP
    ...                   key="id", fields=["name", "price:numeric", "tags"])
    >>> result.score, result.coverage["parse_failures"]                               # doctest: +SKIP
    >>> result.write(session, "main.default.eval_results")                             # doctest: +SKIP
    >>> result.report("eval.html")                                                     # doctest: +SKIP

Results are in long format (one row per field and metric) so runs append to one Delta table and
compare with plain SQL: ``SELECT run_id, field, value FROM main.default.eval_results WHERE
metric = 'score'``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakeinfer.evaluation.compare import Comparison, FieldSpec, compare, load_rows
from lakeinfer.evaluation.judge import JudgeResult, judge_rows

if TYPE_CHECKING:
    from lakeinfer.session import Session

DEFAULT_RESULTS_TABLE = "main.default.eval_results"
MODEL_JUDGED = "model-judged"

METRICS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("evaluated_at", pa.timestamp("us", tz="UTC")),
        ("predictions", pa.string()),
        ("ground_truth", pa.string()),
        ("field", pa.string()),
        ("kind", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("judge_endpoint", pa.string()),
    ]
)

ROWS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("key", pa.string()),
        ("status", pa.string()),
        ("score", pa.float64()),
        ("error", pa.string()),
        ("field_scores", pa.string()),
        ("expected", pa.string()),
        ("predicted", pa.string()),
    ]
)


@dataclass
class Evaluation:
    """One evaluation run: field metrics, coverage, rows and optional model-judged scores."""

    comparison: Comparison
    predictions: str
    ground_truth: str
    judge: JudgeResult | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    evaluated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def score(self) -> float:
        """Mean per-field score (0..1) against ground truth; model-judged scores excluded."""
        return self.comparison.score

    @property
    def coverage(self) -> dict[str, int]:
        return self.comparison.coverage

    @property
    def fields(self):
        return self.comparison.fields

    @property
    def rows(self):
        return self.comparison.rows

    def worst(self, n: int = 10):
        return self.comparison.worst(n)

    def metric(self, field_name: str | None, metric: str) -> float:
        """One value of :meth:`records`; KeyError when absent."""
        for record in self.records():
            if record["field"] == field_name and record["metric"] == metric:
                return record["value"]
        raise KeyError((field_name, metric))

    def records(self) -> list[dict[str, Any]]:
        """The results in long format: coverage, overall score, each field's metrics, and the
        model-judged means (``kind = 'model-judged'``)."""
        base = {
            "run_id": self.run_id,
            "evaluated_at": self.evaluated_at,
            "predictions": self.predictions,
            "ground_truth": self.ground_truth,
            "judge_endpoint": None,
        }
        out = [
            {**base, "field": None, "kind": "coverage", "metric": name, "value": float(value)}
            for name, value in self.coverage.items()
        ]
        out.append(
            {**base, "field": None, "kind": "overall", "metric": "score", "value": self.score}
        )
        for f in self.fields:
            out += [
                {**base, "field": f.name, "kind": f.kind, "metric": name, "value": value}
                for name, value in f.metrics.items()
            ]
        if self.judge is not None:
            judged = {**base, "field": None, "kind": MODEL_JUDGED}
            judged["judge_endpoint"] = self.judge.endpoint
            out += [
                {**judged, "metric": name, "value": value}
                for name, value in self.judge.means.items()
            ]
            out.append({**judged, "metric": "judged_rows", "value": float(self.judge.judged)})
            out.append(
                {**judged, "metric": "judge_failures", "value": float(len(self.judge.failures))}
            )
        return out

    def to_arrow(self) -> pa.Table:
        """:meth:`records` as an Arrow table (the results table's schema)."""
        return pa.Table.from_pylist(self.records(), schema=METRICS_SCHEMA)

    def rows_to_arrow(self) -> pa.Table:
        """One row per ground-truth row: status, score, field scores, expected and predicted
        (JSON text)."""
        rows = [
            {
                "run_id": self.run_id,
                "key": str(r.key),
                "status": r.status,
                "score": r.score,
                "error": r.error,
                "field_scores": _json(r.scores),
                "expected": _json(r.expected),
                "predicted": None if r.predicted is None else _json(r.predicted),
            }
            for r in self.rows
        ]
        return pa.Table.from_pylist(rows, schema=ROWS_SCHEMA)

    def write(
        self,
        session: Session,
        table: str = DEFAULT_RESULTS_TABLE,
        rows_table: str | None = None,
    ) -> None:
        """Append the metrics to ``table`` (and the per-row results to ``rows_table``), one Delta
        commit each."""
        _append(session, table, self.to_arrow())
        if rows_table:
            _append(session, rows_table, self.rows_to_arrow())

    def report(self, path: str | Path, *, worst: int = 10) -> Path:
        """Write the HTML report (charts embedded) to ``path`` and return it."""
        from lakeinfer.evaluation.report import write_report

        return write_report(self, Path(path), worst=worst)


def evaluate(
    session: Session,
    predictions: str,
    ground_truth: str,
    key: str,
    *,
    fields: Sequence[FieldSpec | str] | None = None,
    prediction_column: str | None = None,
    truth_column: str | None = None,
    abs_tol: float = 0.0,
    rel_tol: float = 0.01,
    judge_endpoint: str | None = None,
    judge_input: str | None = None,
    judge_criteria: Sequence[str] = ("relevance", "faithfulness"),
) -> Evaluation:
    """Compare ``predictions`` with ``ground_truth`` (each a table name or a SQL query) on
    ``key``; see :mod:`lakeinfer.evaluation.compare` for columns, field kinds and scoring.

    With ``judge_endpoint``, that endpoint also rates each prediction (``judge_criteria``,
    1-5); ``judge_input`` names a column (of the predictions, else of the ground truth) holding
    the input each prediction was made from.
    """
    pred_table = load_rows(session, predictions, "predictions")
    truth_table = load_rows(session, ground_truth, "ground truth")
    comparison = compare(
        pred_table,
        truth_table,
        key,
        fields=fields,
        prediction_column=prediction_column,
        truth_column=truth_column,
        abs_tol=abs_tol,
        rel_tol=rel_tol,
    )
    judged = None
    if judge_endpoint is not None:
        sources = None
        if judge_input is not None:
            sources = _column_by_key(pred_table, truth_table, key, judge_input)
        judged = judge_rows(
            session, judge_endpoint, comparison.rows, sources=sources, criteria=judge_criteria
        )
    return Evaluation(comparison, predictions.strip(), ground_truth.strip(), judged)


def _column_by_key(predictions: pa.Table, truth: pa.Table, key: str, column: str) -> dict[Any, Any]:
    from lakeinfer.errors import AnalysisError

    for table in (predictions, truth):
        if column in table.column_names:
            return dict(
                zip(table.column(key).to_pylist(), table.column(column).to_pylist(), strict=True)
            )
    raise AnalysisError(
        f"judge input column {column!r} is neither in the predictions nor in the ground truth"
    )


def _append(session: Session, name: str, data: pa.Table) -> None:
    from lakeinfer.catalog.delta_catalog import DeltaCatalog

    qualified = DeltaCatalog.qualify(name.split("."), session.namespace)
    session.catalog.write(qualified, data, "append")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
