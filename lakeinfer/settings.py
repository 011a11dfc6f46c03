"""Session settings, changed with ``SET lakeinfer.<key> = value`` and ``RESET``.

One precedence everywhere: ``SET`` in the session > environment ``LAKEINFER_<KEY>`` >
``[settings]`` in ``<home>/config.toml`` > the defaults below. Endpoint limits can be set for
every endpoint (``SET lakeinfer.max_concurrency = 8``) or for one
(``SET lakeinfer.endpoints.my-llm.max_concurrency = 8``); the latter wins, and both win over the
endpoint's entry in ``config.toml``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from lakeinfer.errors import AnalysisError, ConfigError, did_you_mean
from lakeinfer.runtime.limits import EndpointLimits

PREFIX = "lakeinfer."


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _whole(value: Any, least: int) -> int:
    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is None or isinstance(value, float) or number < least:
        raise ValueError(f"expected a whole number >= {least}, got {text!r}")
    return number


def _positive_int(value: Any) -> int:
    return _whole(value, 0)


def _at_least_one(value: Any) -> int:
    return _whole(value, 1)


def _positive_float(value: Any) -> float:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"expected a number > 0, got {text!r}")
    return number


def _batch_mode(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("auto", "on", "off"):
        raise ValueError(f"expected 'auto', 'on' or 'off', got {value!r}")
    return text


#: most rows one packed request may carry
MAX_PACK_ROWS = 64


def _pack_rows(value: Any) -> int | str:
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        rows = _whole(value, 1)
    except ValueError:
        rows = 0
    if not 1 <= rows <= MAX_PACK_ROWS:
        raise ValueError(
            f"expected 'auto' or a whole number from 1 to {MAX_PACK_ROWS}, got {value!r}"
        )
    return rows


def _name(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must name an endpoint")
    return text


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse_optional(value: Any) -> Any:
        if value is None or str(value).strip().lower() in ("", "null", "none"):
            return None
        return parse(value)

    return parse_optional


@dataclass(frozen=True)
class Spec:
    parse: Callable[[Any], Any]
    default: Any
    doc: str


SETTINGS: dict[str, Spec] = {
    "cache": Spec(_bool, True, "reuse answers from the persistent response cache"),
    "cache_nonzero_temperature": Spec(
        _bool, True, "also cache answers sampled at temperature > 0 (false: always call)"
    ),
    "agg_context_tokens": Spec(
        _positive_int, 2048, "input tokens of one ai_agg prompt (rows beyond are reduced in steps)"
    ),
    "budget_tokens": Spec(
        _optional(_positive_int), None, "most tokens (input + output) one statement may use"
    ),
    "default_max_tokens": Spec(
        _positive_int, 256, "output tokens assumed per request when max_tokens is not set"
    ),
    # On by default: for llama.cpp's server each prefix group is pinned to its own slots
    # (id_slot), measured faster than random order (benchmarks/prefix_ordering.py); plain
    # sorting was slower there (0.70x at 8 slots: requests sharing a prefix were in flight at
    # once on different slots, each evaluating the prefix).
    "prefix_ordering": Spec(
        _bool,
        True,
        "group requests by shared prompt prefix for endpoints with prefix caching",
    ),
    # On by default: the embedded model is near chance on labels when asked for JSON, and
    # scoring the labels by its log-probabilities is measured far better
    # (benchmarks/task_functions_eval.py)
    "task_scoring": Spec(
        _bool,
        True,
        "task functions score labels and copy spans on endpoints that support it (the "
        "embedded model) instead of asking for JSON",
    ),
    # Off by default: packing changes what the model reads, which may change its answers
    # (benchmarks/prompt_packing.py measures it)
    "pack_rows": Spec(
        _pack_rows,
        1,
        "rows per chat request: 1 sends each row alone, N packs N rows into one prompt with a "
        "JSON answer per row, 'auto' packs short label answers on HTTP endpoints",
    ),
    # Databricks' task functions call Databricks-managed models; the same names answer here
    # from a workspace when one is set, else from the embedded models
    "task_endpoint": Spec(
        _name,
        "databricks-meta-llama-3-3-70b-instruct",
        "chat endpoint behind ai_summarize, ai_classify and the other task functions",
    ),
    "embedding_endpoint": Spec(
        _name, "databricks-gte-large-en", "embeddings endpoint behind ai_similarity"
    ),
    # off by default: most OpenAI-compatible servers (vLLM, llama.cpp, Ollama) have no batch
    # API; an endpoint's batch_mode in config.toml turns it on for that endpoint
    "batch_mode": Spec(
        _batch_mode,
        "off",
        "send requests through the provider's batch API (half price, answers within 24 h): "
        "'auto' for CREATE TABLE AS and INSERT of at least batch_min_requests requests, 'on' "
        "for every statement, 'off'",
    ),
    "batch_min_requests": Spec(
        _at_least_one, 1000, "uncached requests from which batch_mode = 'auto' uses a batch"
    ),
    # OpenAI's documented limits of one batch input file
    "batch_max_requests": Spec(_at_least_one, 50_000, "requests per batch input file"),
    "batch_max_bytes": Spec(_at_least_one, 200_000_000, "bytes per batch input file"),
    "batch_poll_s": Spec(_positive_float, 30.0, "seconds between two looks at a batch"),
    "batch_max_wait_s": Spec(
        _positive_float,
        90_000.0,
        "seconds a statement waits for its batches (then it stops; run it again to resume)",
    ),
}

#: Endpoint limits, settable for all endpoints or per endpoint.
LIMIT_SETTINGS: dict[str, Spec] = {
    "max_concurrency": Spec(_at_least_one, None, "requests in flight"),
    "requests_per_minute": Spec(_optional(_positive_float), None, "request rate"),
    "input_tokens_per_minute": Spec(_optional(_positive_float), None, "input token rate"),
    "output_tokens_per_minute": Spec(_optional(_positive_float), None, "output token rate"),
    "timeout_s": Spec(_positive_float, None, "seconds per request"),
    "max_retries": Spec(_positive_int, None, "retries of retryable failures"),
    "max_request_s": Spec(
        _positive_float, None, "seconds a request still streaming its answer may take in all"
    ),
}

#: Spark settings lakeinfer honours, under their Databricks names (``SET key = value``).
SPARK_SETTINGS: dict[str, Spec] = {
    "spark.databricks.delta.retentionDurationCheck.enabled": Spec(
        _bool, True, "VACUUM refuses a RETAIN shorter than the table's retention (7 days)"
    ),
}


class Settings:
    """The layered settings of one session."""

    def __init__(
        self,
        file_settings: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ):
        self._environ = os.environ if environ is None else environ
        self._session: dict[str, Any] = {}
        self._file: dict[str, Any] = {}
        for key, value in (file_settings or {}).items():
            name, spec = self._spec(PREFIX + key if not key.startswith(PREFIX) else key)
            try:
                self._file[name] = spec.parse(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"config.toml [settings] {key}: {exc}") from None

    # -- lookup --------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        """The effective value of ``key`` (``cache`` or ``lakeinfer.cache``)."""
        spark = _spark_setting(key) is not None
        name, spec = self._spec(key if key.startswith(PREFIX) or spark else PREFIX + key)
        if name in self._session:
            return self._session[name]
        env = self._env_value(name)
        if env is not None:
            try:
                return spec.parse(env)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"environment {self._env_name(name)}: {exc}") from None
        if name in self._file:
            return self._file[name]
        return spec.default

    def chosen(self, key: str) -> Any:
        """The value ``SET`` in this session for ``key``; None when the session did not set it."""
        name, _ = self._spec(key if key.startswith(PREFIX) else PREFIX + key)
        return self._session.get(name)

    def limits(self, endpoint: str, base: EndpointLimits) -> EndpointLimits:
        """``base`` (from config.toml or the provider) with session/environment overrides."""
        changes: dict[str, Any] = {}
        for field in LIMIT_SETTINGS:
            for name in (f"{PREFIX}{field}", f"{PREFIX}endpoints.{endpoint}.{field}"):
                value = self._session.get(name)
                if value is None and name.count(".") == 1:
                    env = self._env_value(name)
                    try:
                        value = LIMIT_SETTINGS[field].parse(env) if env is not None else None
                    except (TypeError, ValueError) as exc:
                        raise ConfigError(f"environment {self._env_name(name)}: {exc}") from None
                if value is not None:
                    changes[field] = value
        return replace(base, **changes) if changes else base

    def row(self, key: str) -> dict[str, Any]:
        """One setting with its effective value (what ``SET key`` shows)."""
        return {"key": key, "value": _show(self.get(key))}

    def rows(self) -> list[dict[str, Any]]:
        """Every setting with its effective value (what ``SET`` alone shows)."""
        rows = [
            {"key": PREFIX + k, "value": _show(self.get(k)), "meaning": s.doc}
            for k, s in SETTINGS.items()
        ]
        rows += [
            {"key": k, "value": _show(self.get(k)), "meaning": s.doc}
            for k, s in SPARK_SETTINGS.items()
        ]
        rows += [
            {"key": k, "value": _show(v), "meaning": "session override"}
            for k, v in sorted(self._session.items())
            if _limit_field(k)
        ]
        return rows

    # -- SET / RESET ---------------------------------------------------------------------
    def set(self, key: str, value: Any) -> None:
        name, spec = self._spec(key)
        try:
            self._session[name] = spec.parse(value)
        except (TypeError, ValueError) as exc:
            raise AnalysisError(f"SET {key}: {exc}") from None

    def reset(self, key: str | None = None) -> None:
        if key is None:
            self._session.clear()
            return
        name, _ = self._spec(key)
        self._session.pop(name, None)

    # -- helpers -------------------------------------------------------------------------
    def _spec(self, key: str) -> tuple[str, Spec]:
        name = key.strip()
        spark = _spark_setting(name)
        if spark is not None:
            return spark, SPARK_SETTINGS[spark]
        if not name.lower().startswith(PREFIX):
            raise AnalysisError(
                f"unknown setting {name!r}: lakeinfer settings start with 'lakeinfer.'"
            )
        name = PREFIX + name[len(PREFIX) :]
        short = name[len(PREFIX) :]
        if short in SETTINGS:
            return name, SETTINGS[short]
        field = _limit_field(name)
        if field is not None:
            return name, LIMIT_SETTINGS[field]
        known = [PREFIX + k for k in [*SETTINGS, *LIMIT_SETTINGS]]
        raise AnalysisError(f"unknown setting {name!r}{did_you_mean(name, known)}")

    @staticmethod
    def _env_name(name: str) -> str:
        return "LAKEINFER_" + name[len(PREFIX) :].upper()

    def _env_value(self, name: str) -> str | None:
        if name.count(".") != 1:
            return None
        return self._environ.get(self._env_name(name))


def _spark_setting(name: str) -> str | None:
    """The key of :data:`SPARK_SETTINGS` that ``name`` names (any case), else None."""
    lowered = name.strip().lower()
    return next((k for k in SPARK_SETTINGS if k.lower() == lowered), None)


def _limit_field(name: str) -> str | None:
    short = name[len(PREFIX) :]
    if short in LIMIT_SETTINGS:
        return short
    if short.startswith("endpoints."):
        field = short.rsplit(".", 1)[-1]
        if field in LIMIT_SETTINGS and short.count(".") >= 2:
            return field
    return None


def _show(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
