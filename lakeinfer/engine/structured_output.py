"""Checks that a model's answer fits the ``response_format`` it was asked for.

Constrained decoding (llama.cpp turns a JSON schema into a grammar; hosted endpoints honour
``response_format``) makes valid answers the rule; this is the check behind the guarantee. An
answer that fails it is asked for once more, with the reason appended to the prompt, and a
second failure becomes that row's error (see :class:`lakeinfer.engine.ai_eval.AiEvaluator`).

Each structured request is bounded first (:func:`bounded_parameters`): its ``max_tokens`` comes
from its schema and its input (:func:`lakeinfer.runtime.answer_bounds.answer_bound`) unless the
query set one, so a model looping under a grammar stops in seconds with an error naming the
limit instead of running to the server's own.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from lakeinfer.runtime.answer_bounds import QUERY_FLOOR_TOKENS, answer_bound, is_structured

#: appended to the prompt of the one retry of an answer that did not fit
RETRY_NOTE = (
    "\n\nYour previous answer was not valid: {reason}. Answer again with JSON only, exactly in "
    "the required format."
)


def check_answer(response_format: dict[str, Any] | None, answer: Any) -> str | None:
    """Why ``answer`` does not fit ``response_format``; None when it fits (or nothing is
    required: no format, or ``{"type": "text"}``)."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return None
    if isinstance(answer, str):
        try:
            value = json.loads(answer)
        except json.JSONDecodeError as exc:
            return f"the answer is not JSON ({exc.msg} at position {exc.pos + 1})"
    else:
        value = answer
    if kind == "json_object":
        return None if isinstance(value, dict) else "the answer is not a JSON object"
    schema = (response_format.get("json_schema") or {}).get("schema")
    if not isinstance(schema, dict):
        return None
    error = _best_error(json.dumps(schema, sort_keys=True), value)
    return error


def _best_error(schema_text: str, value: Any) -> str | None:
    validator = _validator(schema_text)
    errors = sorted(
        validator.iter_errors(value), key=lambda e: (len(e.path), list(map(str, e.path)))
    )
    if not errors:
        return None
    error = errors[0]
    path = "/".join(str(p) for p in error.path) or "the top level"
    return f"the answer does not fit the schema at {path}: {error.message}"


@lru_cache(maxsize=64)
def _validator(schema_text: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_text))


def retry_payload(payload: Any, reason: str) -> Any | None:
    """The prompt of the retry of an answer that failed the check; None when the request is
    not a plain prompt (a whole conversation is sent as it is, and not retried)."""
    if not isinstance(payload, str):
        return None
    return payload + RETRY_NOTE.format(reason=reason)


def bounded_parameters(parameters: dict[str, Any], value: Any, task: bool) -> dict[str, Any]:
    """The parameters of one request for the row input ``value``: a structured answer gets
    the ``max_tokens`` its schema and input allow. ``task``: a task function's, whose own
    ``max_tokens`` is a ceiling lowered to the bound; an ``ai_query`` that sets ``max_tokens``
    (or ``max_completion_tokens``) keeps it, one that does not gets at least
    :data:`~lakeinfer.runtime.answer_bounds.QUERY_FLOOR_TOKENS`."""
    if not is_structured(parameters):
        return parameters
    if task:
        bound = answer_bound(parameters["response_format"], value)
        ceiling = parameters.get("max_tokens")
        if isinstance(ceiling, int) and ceiling <= bound:
            return parameters
        return {**parameters, "max_tokens": bound}
    if "max_tokens" in parameters or "max_completion_tokens" in parameters:
        return parameters
    bound = answer_bound(parameters["response_format"], value, floor=QUERY_FLOOR_TOKENS)
    return {**parameters, "max_tokens": bound}
