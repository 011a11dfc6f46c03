"""Keeps secret values out of everything lakeinfer says, writes or answers.

Every key lakeinfer sends (the value of each endpoint's ``api_key_env``, ``DATABRICKS_TOKEN``,
...) and every bearer token it makes or is given (``lakeinfer serve``'s, the web workspace's,
the embedded llama-server's) is registered here, and :func:`redact` replaces each with ``***``.
It is applied where text leaves lakeinfer: each answer and per-row error as the scheduler hands
it over (so tables, ``errorMessage`` values, the inference log and ``serve``'s answers),
exception messages (:class:`~lakeinfer.errors.LakeinferError`), the query history, the servers'
error replies, the workspace's health check and lakeinfer's log records. An upstream that echoes
the key back (``Incorrect API key provided: sk-...``) therefore reveals nothing.

What counts as an occurrence: the value itself (so ``Bearer <value>`` becomes ``Bearer ***``),
its URL-encoded and JSON-escaped forms, and any run of at least :data:`FRAGMENT` characters
from its start (an upstream that echoes the key cut short). Values shorter than
:data:`MIN_LENGTH` characters are not registered: replacing them would mangle ordinary text, and
a key that short is no secret anyway.

Third-party providers that read secrets of their own call :func:`register` with each value.
With nothing registered, redaction costs one check; otherwise a few ``in`` tests per text.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

MASK = "***"
#: Shorter values are never redacted (they would match ordinary words).
MIN_LENGTH = 8
#: A leading run of a secret this long counts as the secret.
FRAGMENT = 16
#: Variables that providers (or the libraries they use) read whatever config.toml says.
WELL_KNOWN_VARIABLES = (
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "OPENAI_API_KEY",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "HF_TOKEN",
    "LAKEINFER_UI_TOKEN",
)

_lock = threading.Lock()
_values: frozenset[str] = frozenset()
#: ``(probe, forms)``: each leading fragment that gives a secret away, with the written forms
#: of the secrets that start with it (longest first); groups with the longest forms first
_forms: tuple[tuple[str, tuple[str, ...]], ...] = ()


def register(value: str | None) -> None:
    """Redact ``value`` from now on (in this process); ignored when empty or shorter than
    :data:`MIN_LENGTH`."""
    global _values, _forms
    if not value:
        return
    values = {v for v in (value, value.strip()) if len(v) >= MIN_LENGTH}
    if values <= _values:
        return
    with _lock:
        known = _values | values
        forms = {form for secret in known for form in _written_forms(secret)}
        groups: dict[str, list[str]] = {}
        for form in sorted(forms, key=len, reverse=True):
            groups.setdefault(form[:FRAGMENT], []).append(form)
        _forms = tuple((probe, tuple(group)) for probe, group in groups.items())
        _values = known


def register_environment(variables: Iterable[str] = ()) -> None:
    """Register the values of ``variables`` and of :data:`WELL_KNOWN_VARIABLES` that are set."""
    for name in (*WELL_KNOWN_VARIABLES, *variables):
        register(os.environ.get(name))


def register_config(config: Any) -> None:
    """Register the keys a :class:`~lakeinfer.config.LakeinferConfig` refers to: each
    endpoint's ``api_key_env`` value, a password in its ``base_url``, and the well-known
    variables."""
    names = [e.api_key_env for e in config.endpoints.values() if e.api_key_env]
    register_environment(names)
    for endpoint in config.endpoints.values():
        if endpoint.base_url:
            register(urlsplit(endpoint.base_url).password)


def active() -> bool:
    """Whether any secret is registered."""
    return bool(_forms)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    forms = _forms
    if not forms:
        return text
    for probe, group in forms:
        if probe in text:
            text = _mask(text, probe, group)
    return text


def redact_value(value: Any) -> Any:
    """An answer with secrets masked in its strings (a string, or lists and dicts of them);
    the same object when it cannot hold one (a number, a vector of numbers)."""
    if not _forms or value is None:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict) or (isinstance(value, (list, tuple)) and _holds_text(value)):
        return _walk(value)
    return value


def redact_outcome(outcome: Any) -> None:
    """Mask secrets in an :class:`~lakeinfer.endpoints.base.Outcome`'s error and value."""
    if not _forms:
        return
    if outcome.error is not None:
        outcome.error = redact(outcome.error)
    if outcome.value is not None:
        outcome.value = redact_value(outcome.value)


class RedactingFilter(logging.Filter):
    """Masks secrets in a log record's message and its formatted exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _forms:
            return True
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = RedactingFilter()


def logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the redacting filter attached (lakeinfer's modules
    get their loggers here)."""
    log = logging.getLogger(name)
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)
    return log


def _written_forms(secret: str) -> set[str]:
    """How ``secret`` may appear in a text: as is, URL-encoded, JSON-escaped."""
    forms = {
        secret,
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    return {form for form in forms if len(form) >= MIN_LENGTH}


def _mask(text: str, probe: str, forms: tuple[str, ...]) -> str:
    """Replace each occurrence of ``probe`` in ``text``, with as much of the form it starts
    that follows it (the longest match of ``forms``), by the mask."""
    parts: list[str] = []
    start = 0
    found = text.find(probe)
    while found >= 0:
        end = found + len(probe)
        for form in forms:
            end = max(end, found + _matching(text, found, form))
        parts += (text[start:found], MASK)
        start = end
        found = text.find(probe, start)
    parts.append(text[start:])
    return "".join(parts)


def _matching(text: str, at: int, form: str) -> int:
    """How many characters of ``form`` ``text`` holds from ``at`` on."""
    count = 0
    for mine, theirs in zip(text[at : at + len(form)], form, strict=False):
        if mine != theirs:
            break
        count += 1
    return count


def _holds_text(items: list[Any] | tuple[Any, ...]) -> bool:
    """Whether a list may hold a string (a vector of numbers, the common case, cannot)."""
    try:
        sum(items)  # numbers add up, in C: far cheaper than a loop over an embedding
    except TypeError:
        return True
    return False


def _walk(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_walk(v) for v in value)
    if isinstance(value, dict):
        return {_walk(k) if isinstance(k, str) else k: _walk(v) for k, v in value.items()}
    return value


# lakeinfer's root logger, and the servers' loggers (their records quote failed requests)
for _name in ("lakeinfer", "uvicorn.error", "aiohttp.server", "aiohttp.web"):
    logger(_name)
