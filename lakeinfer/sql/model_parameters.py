"""The model parameters ``modelParameters => named_struct(...)`` may set, checked when the
statement is bound, before any model is called.

The parameters of the OpenAI chat and embeddings APIs (which Databricks Model Serving and most
OpenAI-compatible servers share) must have their type and range: ``temperature`` a number from
0 to 2, ``max_tokens`` a positive integer, ``stop`` a string or an array of at most 4 strings,
... An error names the parameter, what it must be and the value given. A name one letter away
from a known one (``temprature``) is refused as a typo; any other name goes to the endpoint
as given, for parameters only some servers know (``min_p``, ``repeat_penalty``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any

from lakeinfer.errors import AnalysisError

Check = Callable[[Any], Any]  # the value to send, or raises ValueError with what it must be


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"a number from {low:g} to {high:g}")
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"a number from {low:g} to {high:g}")
        return value

    return check


def _integer(low: int, high: int | None = None) -> Check:
    what = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
    if low == 1 and high is None:
        what = "a positive integer"

    def check(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(what)
        if value < low or (high is not None and value > high):
            raise ValueError(what)
        return value

    return check


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("TRUE or FALSE")
    return value


def _string(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("a string")
    return value


def _stop(value: Any) -> Any:
    if isinstance(value, str) and value:
        return value
    if (
        isinstance(value, list)
        and 1 <= len(value) <= 4
        and all(isinstance(v, str) and v for v in value)
    ):
        return value
    raise ValueError("a non-empty string or an array of 1 to 4 non-empty strings")


KNOWN: dict[str, Check] = {
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "top_k": _integer(0),
    "max_tokens": _integer(1),
    "max_completion_tokens": _integer(1),
    "n": _integer(1),
    "stop": _stop,
    "presence_penalty": _number(-2, 2),
    "frequency_penalty": _number(-2, 2),
    "seed": _integer(-(2**63), 2**63 - 1),
    "logprobs": _boolean,
    "top_logprobs": _integer(0, 20),
    "user": _string,
    "reasoning_effort": _string,
    "dimensions": _integer(1),
}


def check_model_parameters(parameters: dict[str, Any], what: str) -> dict[str, Any]:
    """``parameters`` with each known one checked (and whole floats of integer parameters made
    integers); an :class:`AnalysisError` starting with ``what`` names the first wrong one."""
    checked: dict[str, Any] = {}
    for name, value in parameters.items():
        check = KNOWN.get(name)
        if check is None:
            close = difflib.get_close_matches(name, list(KNOWN), n=1, cutoff=0.85)
            if close:
                raise AnalysisError(
                    f"{what}: unknown parameter {name!r}; did you mean {close[0]!r}?"
                )
            checked[name] = value
            continue
        try:
            checked[name] = check(value)
        except ValueError as exc:
            raise AnalysisError(f"{what}: {name} must be {exc}, got {value!r}") from None
    return checked
