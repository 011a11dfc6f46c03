"""Model-judged metrics: a judge endpoint scores each prediction for relevance and faithfulness.

These scores are opinions of a model, not measurements against ground truth: every result,
table row and report section that carries them is labelled ``model-judged`` with the judge's
endpoint name. The judge is called through the session's ``ai_query`` (so the response cache,
rate limits, retries and the query history apply) with ``failOnError => false``; an answer that
holds no usable scores counts as a judge failure, never as a low score.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from lakeinfer.errors import AnalysisError

if TYPE_CHECKING:
    from lakeinfer.evaluation.compare import RowResult
    from lakeinfer.session import Session

#: Criterion -> what the judge is asked to rate (1 = worst, 5 = best).
CRITERIA = {
    "relevance": "does the model answer address the input and give what the reference gives?",
    "faithfulness": "is everything in the model answer supported by the input and the "
    "reference, with nothing invented?",
}
SCALE = (1, 5)
_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)


@dataclass
class JudgeResult:
    """Model-judged scores: ``means`` per criterion (1-5) and ``per_row`` by key."""

    endpoint: str
    criteria: list[str]
    means: dict[str, float]
    per_row: dict[Any, dict[str, float]] = field(default_factory=dict)
    reasons: dict[Any, str] = field(default_factory=dict)
    failures: dict[Any, str] = field(default_factory=dict)

    @property
    def judged(self) -> int:
        return len(self.per_row)


def judge_prompt(criteria: Sequence[str], source: str | None, reference: Any, answer: Any) -> str:
    """The request sent to the judge for one row."""
    lines = [
        "You grade an answer produced by a model. Rate each criterion with an integer from "
        f"{SCALE[0]} (worst) to {SCALE[1]} (best).",
    ]
    lines += [f"- {name}: {CRITERIA[name]}" for name in criteria]
    if source is not None:
        lines += ["", "Input:", str(source)]
    lines += ["", "Reference answer:", _text(reference), "", "Model answer:", _text(answer), ""]
    fields = ", ".join(f'"{name}": <score>' for name in criteria)
    lines.append(f'Reply with only one JSON object: {{{fields}, "reason": "<one sentence>"}}')
    return "\n".join(lines)


def parse_verdict(text: str | None, criteria: Sequence[str]) -> tuple[dict[str, float], str]:
    """Scores and reason from a judge's answer; raises ValueError when none are usable."""
    if not text:
        raise ValueError("empty answer")
    for candidate in reversed(_OBJECT.findall(text)):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        scores = {}
        for name in criteria:
            value = data.get(name)
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and SCALE[0] <= value <= SCALE[1]
            ):
                scores[name] = float(value)
        if len(scores) == len(criteria):
            return scores, str(data.get("reason") or "")
    raise ValueError(f"no JSON object with {', '.join(criteria)} scores in the answer")


def judge_rows(
    session: Session,
    endpoint: str,
    rows: Sequence[RowResult],
    *,
    sources: dict[Any, Any] | None = None,
    criteria: Sequence[str] = ("relevance", "faithfulness"),
) -> JudgeResult:
    """Ask ``endpoint`` to rate every row that has a prediction; rows without one are skipped.

    ``sources`` maps keys to the input the prediction was made from (the document, the
    question); without it the judge sees only the reference and the answer.
    """
    unknown = [c for c in criteria if c not in CRITERIA]
    if unknown:
        raise AnalysisError(
            f"unknown judge criterion {unknown[0]!r}; use {' or '.join(sorted(CRITERIA))}"
        )
    criteria = list(criteria)
    judged = [r for r in rows if r.predicted is not None]
    result = JudgeResult(endpoint, criteria, {})
    if not judged:
        return result
    values = []
    for index, row in enumerate(judged):
        source = None if sources is None else sources.get(row.key)
        prompt = judge_prompt(criteria, source, row.expected, row.predicted)
        values.append(f"({index}, {exp.Literal.string(prompt).sql(dialect='databricks')})")
    name = exp.Literal.string(endpoint).sql(dialect="databricks")
    query = (
        f"SELECT i, ai_query({name}, p, failOnError => false) AS verdict "
        f"FROM (VALUES {', '.join(values)}) AS judge_requests(i, p) ORDER BY i"
    )
    for answer in session.sql(query).to_pylist():
        row = judged[answer["i"]]
        verdict = answer["verdict"] or {}
        if verdict.get("errorMessage"):
            result.failures[row.key] = str(verdict["errorMessage"])
            continue
        try:
            scores, reason = parse_verdict(verdict.get("result"), criteria)
        except ValueError as exc:
            result.failures[row.key] = str(exc)
            continue
        result.per_row[row.key] = scores
        result.reasons[row.key] = reason
    for name in criteria:
        values_ = [s[name] for s in result.per_row.values()]
        if values_:
            result.means[name] = sum(values_) / len(values_)
    return result


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
