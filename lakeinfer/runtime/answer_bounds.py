"""How long a structured answer may be, and what a cut-off one becomes.

A model decoding under a JSON grammar can loop (``"person", "person", ...``) until its token
limit; with no limit of its own that is the server's, minutes on a small CPU. So every structured
answer gets a ``max_tokens`` derived from its schema and its input (:func:`answer_bound`): the
fixed part of the schema (keys, punctuation, the longest enum label, ``maxItems`` items) plus, when
the schema has open parts (free strings, arrays without ``maxItems``, ``json_object``), a few times
the input, because an extraction, a mask or a classification restates its input and cannot be
much longer than it.

An answer that still reaches its limit (``finish_reason`` ``length``) is not JSON to check and
ask again as it is: :func:`truncated_answer` makes it the row's error, naming the limit and how
to raise it, and asks again only with what was learned (a repetition penalty, when the endpoint
has one and the answer was repeating itself).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from lakeinfer.endpoints.base import Outcome

#: characters of compact JSON per token (punctuation-heavy text tokenizes short)
JSON_CHARS_PER_TOKEN = 3
#: tokens allowed beyond the estimate: the whitespace and newlines a grammar lets a model emit
SLACK_TOKENS = 16
#: an open schema's answer may be this many times its input, in characters
INPUT_STRETCH = 2
#: characters an open answer may have whatever its input (a short input, a few fields)
OPEN_FLOOR_CHARS = 96
#: the least a user's own ``responseFormat`` query gets when it sets no ``max_tokens``
QUERY_FLOOR_TOKENS = 256
#: a unit of text repeated this many times in a row makes an answer "repeating itself"
REPEATS = 4
_REPEATING = re.compile(r"(.{2,80}?)(?:\s*\1){" + str(REPEATS - 1) + ",}", re.S)


def is_structured(parameters: dict[str, Any]) -> bool:
    """Whether a request (its parameters or body) asks for a JSON answer."""
    response_format = parameters.get("response_format")
    return isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    )


def answer_bound(response_format: dict[str, Any], value: Any, *, floor: int = 0) -> int:
    """The ``max_tokens`` of a JSON answer of ``response_format`` to the input ``value``
    (a text, or a record whose JSON is its length); at least ``floor``."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    schema = (response_format.get("json_schema") or {}).get("schema")
    if response_format.get("type") == "json_schema" and isinstance(schema, dict):
        fixed, open_ = _size(schema)
    else:  # json_object: any object
        fixed, open_ = 2, True
    chars = fixed + (INPUT_STRETCH * len(text) + OPEN_FLOOR_CHARS if open_ else 0)
    return max(floor, math.ceil(chars / JSON_CHARS_PER_TOKEN) + SLACK_TOKENS)


def _size(schema: Any, depth: int = 0) -> tuple[int, bool]:
    """(characters of the schema's fixed part, whether it has open parts) of a compact
    instance at its longest."""
    if not isinstance(schema, dict) or depth > 32:
        return 2, True
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return max(len(json.dumps(v)) for v in enum), False
    if "const" in schema:
        return len(json.dumps(schema["const"])), False
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            sizes = [_size(option, depth + 1) for option in options]
            return max(s for s, _ in sizes), any(o for _, o in sizes)
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "object" in kinds:
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            return 2, True
        total, open_ = 2, schema.get("additionalProperties") not in (False, None)
        for name, child in properties.items():
            size, child_open = _size(child, depth + 1)
            total += len(json.dumps(name)) + 2 + size
            open_ = open_ or child_open
        return total, open_
    if "array" in kinds:
        size, open_ = _size(schema.get("items", {}), depth + 1)
        most = schema.get("maxItems")
        if isinstance(most, int) and most >= 0:
            return 2 + most * (size + 2), open_
        return 2 + size, True
    if "string" in kinds:
        most = schema.get("maxLength")
        if isinstance(most, int) and most >= 0:
            return most + 2, False
        return 2, True
    if kinds and all(k in ("integer", "number", "boolean", "null") for k in kinds):
        return 24, False
    return 2, True


def repeating(text: str) -> bool:
    """Whether ``text`` repeats one unit (a word, a value, an item) several times in a row."""
    return _REPEATING.search(text[-2000:]) is not None


def truncated_answer(
    outcome: Outcome, parameters: dict[str, Any], controls: dict[str, Any] | None
) -> Outcome:
    """The row's error for a structured answer cut off at ``max_tokens`` (``outcome`` holds
    what came). ``controls``: the parameters of a repetition penalty the endpoint takes, for a
    retry of an answer that was repeating itself; a request that already had them is not
    asked again (the same request would give the same answer)."""
    limit = parameters.get("max_tokens") or parameters.get("max_completion_tokens")
    answer = outcome.value if isinstance(outcome.value, str) else ""
    looping = repeating(answer)
    shown = f"{limit}" if limit else "the endpoint's output limit"
    message = f"the answer reached max_tokens={shown} before its JSON was complete"
    if looping:
        message += " (the model was repeating itself)"
    suggestion = 2 * int(limit) if limit else 1024
    message += (
        f"; raise it with modelParameters => named_struct('max_tokens', {suggestion}), or "
        f"ask for less in one answer"
    )
    retry = None
    if looping and controls and any(parameters.get(k) != v for k, v in controls.items()):
        retry = controls
    return Outcome(
        error=message,
        retryable=retry is not None,
        retry_parameters=retry,
        prompt_tokens=outcome.prompt_tokens,
        completion_tokens=outcome.completion_tokens,
        cached_tokens=outcome.cached_tokens,
    )
