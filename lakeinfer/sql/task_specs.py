"""What each task function asks the model and how its answer becomes the Databricks result.

A :class:`TaskSpec` is the per-call-site recipe behind ``ai_summarize``, ``ai_classify`` and the
other task functions: the prompt built from a row's value, the ``response_format`` that pins the
answer's shape (an enum of the labels, an object of nullable fields), the model parameters, and
:meth:`TaskSpec.finish`, which turns the model's text into the function's result type. A finish
that cannot make sense of an answer raises :class:`AnswerError`; the evaluator then asks once
more and, failing again, records a per-row error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

SENTIMENTS = ("positive", "negative", "neutral", "mixed")
MASK = "[MASKED]"
#: labels ai_mask also finds by pattern, so they are masked whatever the model misses
MASK_PATTERNS = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "phone": re.compile(r"(?<!\w)\+?\d[\d ().-]{6,}\d(?!\w)"),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "credit_card": re.compile(r"\b(?:\d[ -]?){13,16}\b"),
}
#: v2 results: JSON text of {"response": ..., "error_message": ...}
V2_RESULT = pa.string()


class AnswerError(ValueError):
    """The model's answer does not fit what the task function needs."""


@dataclass(frozen=True)
class TaskSpec:
    """One task function call site, minus its content: see the module docstring.

    ``inputs``: the names of the request fields when the request is a JSON object of several
    values (``ai_translate`` with a column as target language); empty when the request is the
    content text itself. ``kind`` is ``chat``, or ``similarity`` (embeddings, then cosine).
    ``errors_in_result``: per-row failures become ``{"response": null, "error_message": ...}``
    (the v2 functions) instead of failing the statement. ``scored``: the same function asked
    as a scored completion (:mod:`lakeinfer.sql.task_scoring`), used instead of this recipe on
    endpoints with the ``scored_completions`` capability (the embedded model).
    """

    function: str
    result_type: pa.DataType
    instruction: str
    kind: str = "chat"
    inputs: tuple[str, ...] = ()
    response_format: dict[str, Any] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    errors_in_result: bool = False
    #: raw answer text, request value -> result (raises AnswerError)
    parse: Callable[[str, dict[str, Any]], Any] = field(default=lambda raw, _: raw.strip())
    #: request value -> the prompt (default: instruction + the content)
    template: Callable[[TaskSpec, dict[str, Any]], Any] | None = None
    scored: TaskSpec | None = None

    @property
    def key(self) -> str:
        """What makes two call sites ask the same question of the same content."""
        return json.dumps(
            [self.function, self.instruction, self.response_format, self.parameters],
            sort_keys=True,
        )

    def values(self, request: str) -> dict[str, Any]:
        """The row's values: ``{"content": text}`` or the decoded JSON request object."""
        if not self.inputs:
            return {"content": request}
        return json.loads(request)

    def prompt(self, request: str) -> Any:
        """The request sent for the row value ``request``: a prompt text (or, for a scored
        recipe, a completion request)."""
        values = self.values(request)
        if self.template is not None:
            return self.template(self, values)
        return f"{self.instruction}\n\nText:\n{values['content']}"

    def finish(self, raw: Any, request: str) -> Any:
        """The function's result for the model's answer ``raw``; :class:`AnswerError` when the
        answer is unusable."""
        if not isinstance(raw, str):
            raw = json.dumps(raw)
        return self.parse(raw, self.values(request))

    def error_value(self, message: str) -> Any:
        """The result of a failed row under ``errors_in_result``."""
        return json.dumps({"response": None, "error_message": message})


# -- answer parsing -------------------------------------------------------------------------
def json_answer(raw: str) -> Any:
    """The JSON in ``raw``; models without constrained decoding often wrap it in prose or a
    Markdown fence, so the outermost object is taken from the text."""
    text = raw.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        try:
            return json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            pass
    raise AnswerError(f"the answer is not JSON: {_snippet(raw)}")


def pick_label(value: Any, labels: list[str]) -> str:
    """``value`` as one of ``labels`` (exact, else case- and punctuation-insensitive)."""
    if isinstance(value, str):
        if value in labels:
            return value
        wanted = _norm(value)
        for label in labels:
            if _norm(label) == wanted:
                return label
    raise AnswerError(f"{_snippet(str(value))!r} is not one of the labels {labels}")


def label_from_answer(raw: str, labels: list[str], key: str) -> str:
    """The label of a ``{key: label}`` answer, or of a bare answer that is just a label."""
    try:
        answer = json_answer(raw)
    except AnswerError:
        return pick_label(raw, labels)
    if isinstance(answer, dict) and key in answer:
        return pick_label(answer[key], labels)
    return pick_label(answer, labels)


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", text.lower()).strip()


def _snippet(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


#: most labels one multilabel answer may list (bounds the answer, so a small model cannot
#: repeat labels until it runs out of tokens)
MAX_LABELS_PER_ANSWER = 20


def enum_schema(
    name: str, key: str, labels: list[str], many: bool = False, most: int | None = None
) -> dict[str, Any]:
    """A strict ``json_schema`` response format: ``{key: label}`` or ``{key: [labels]}`` with
    1 to ``most`` labels (default: all of them, at most :data:`MAX_LABELS_PER_ANSWER`)."""
    item: dict[str, Any] = {"type": "string", "enum": list(labels)}
    limit = most if most is not None else min(len(labels), MAX_LABELS_PER_ANSWER)
    prop = {"type": "array", "items": item, "minItems": 1, "maxItems": limit} if many else item
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name,
            "schema": {
                "type": "object",
                "properties": {key: prop},
                "required": [key],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }


def object_schema(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A strict ``json_schema`` response format for an object with every key required."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name,
            "schema": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            },
            "strict": True,
        },
    }


def mask_text(text: str, entities: list[str], labels: list[str]) -> str:
    """``text`` with every entity the model named, and every pattern match of a label with a
    known pattern (email, phone, ssn, credit_card), replaced by ``[MASKED]``."""
    spans: list[tuple[int, int]] = []
    for entity in sorted(
        {e.strip() for e in entities if isinstance(e, str)}, key=len, reverse=True
    ):
        if len(entity) < 2 or entity == MASK:
            continue
        for match in re.finditer(re.escape(entity), text):
            spans.append(match.span())
    for label in labels:
        pattern = MASK_PATTERNS.get(label.lower().replace(" ", "_"))
        if pattern is not None:
            spans.extend(m.span() for m in pattern.finditer(text))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, last = [], 0
    for start, end in merged:
        out.append(text[last:start])
        out.append(MASK)
        last = end
    out.append(text[last:])
    return "".join(out)


def limit_words(text: str, max_words: int) -> str:
    """``text`` cut to ``max_words`` words (0: no limit), keeping its own spacing."""
    text = text.strip()
    if max_words <= 0:
        return text
    words = list(re.finditer(r"\S+", text))
    if len(words) <= max_words:
        return text
    return text[: words[max_words - 1].end()]
