"""The exceptions lakeinfer raises, all under one root.

    LakeinferError
    ├── ConfigError            bad config.toml, unknown key, missing secret
    ├── InputError             a file or stream given to read is missing or not UTF-8 text
    ├── SqlError
    │   ├── SqlSyntaxError     text that does not parse (line and column)
    │   ├── AnalysisError      parses, but cannot run: bad ai_query arguments, types, ...
    │   │   └── StatementSyntaxError  a lakeinfer statement (VACUUM, SHOW, ...) malformed
    │   ├── UnknownTableError  a three-part name with no Delta table behind it
    │   └── TableExistsError   CREATE TABLE over an existing table
    ├── UnknownEndpointError   ai_query names an endpoint nobody serves
    ├── EndpointError          an endpoint failed a request (with failOnError => true)
    ├── BudgetExceededError    a statement would use more tokens than lakeinfer.budget_tokens
    ├── StatementCancelledError  a statement was cancelled while it ran; nothing was written
    └── RuntimeUnavailableError  a local runtime (llama.cpp server, ...) cannot be started

Third-party exceptions (aiohttp, duckdb, deltalake) are translated at the boundary so users only
ever see these classes and their messages.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from lakeinfer.redaction import redact


class LakeinferError(Exception):
    """Root of every error lakeinfer raises on purpose. Its message never holds a registered
    secret (see :mod:`lakeinfer.redaction`), whatever text it was built from."""

    def __init__(self, *args: object):
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(LakeinferError):
    """The configuration (config.toml, environment, flags) is invalid or incomplete."""


class InputError(LakeinferError):
    """A file or stream the user gave to read (``sql -f``, stdin) is missing or not text."""


class SqlError(LakeinferError):
    """A statement cannot be run."""


class SqlSyntaxError(SqlError):
    """The SQL text does not parse; ``line`` and ``column`` are 1-based.

    ``snippet`` (when given) is the source line with a caret under the token at fault; it is
    appended to the message on lines of its own.
    """

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        snippet: str | None = None,
    ):
        self.line = line
        self.column = column
        self.problem = message
        self.snippet = snippet
        where = f" at line {line}, column {column}" if line is not None else ""
        text = f"syntax error{where}: {message}"
        super().__init__(f"{text}\n{snippet}" if snippet else text)


class AnalysisError(SqlError):
    """The statement parses but is invalid (wrong arguments, types, unsupported shape)."""


class StatementSyntaxError(SqlSyntaxError, AnalysisError):
    """A statement lakeinfer adds (``VACUUM``, ``SHOW ...``, ``CREATE VECTOR INDEX``, ...) in a
    form it does not take, with line and column. Also an :class:`AnalysisError`, as these
    statements' mistakes were reported before they had a grammar."""


class UnknownTableError(SqlError):
    """A table or schema name that does not exist in the lakehouse."""

    def __init__(self, name: str, candidates: Iterable[str] = ()):
        self.name = name
        super().__init__(f"table or view not found: {name}{did_you_mean(name, candidates)}")


class TableExistsError(SqlError):
    """CREATE TABLE without IF NOT EXISTS / OR REPLACE over an existing table."""


class UnknownEndpointError(LakeinferError):
    """``ai_query`` names an endpoint that is neither configured nor a known stand-in."""

    def __init__(self, name: str, candidates: Iterable[str] = ()):
        self.name = name
        super().__init__(
            f"endpoint not found: {name!r}{did_you_mean(name, candidates)}. "
            f"Create it with `lakeinfer endpoints create {name} --provider openai "
            f"--base-url URL --model MODEL`."
        )


class EndpointError(LakeinferError):
    """An endpoint failed to answer a request (raised only under ``failOnError => true``)."""

    def __init__(self, endpoint: str, message: str, row: int | None = None):
        self.endpoint = endpoint
        self.row = row
        where = f" (row {row})" if row is not None else ""
        super().__init__(f"endpoint {endpoint!r} failed{where}: {message}")


class BudgetExceededError(LakeinferError):
    """A statement would spend more tokens than ``SET lakeinfer.budget_tokens`` allows."""


class StatementCancelledError(LakeinferError):
    """A statement was cancelled while it ran (its calls stopped); nothing was written."""

    def __init__(
        self,
        message: str = "the statement was cancelled; nothing was written",
        stats: object = None,
    ):
        #: what the calls made before the cancel cost (a ``CallStats``), when known
        self.stats = stats
        super().__init__(message)


class RuntimeUnavailableError(LakeinferError):
    """A local model runtime could not be started."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return a ``"; did you mean X?"`` suffix naming the closest candidates, or ``""``."""
    matches = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(repr(m) for m in matches) + "?"


class ConcurrentWriteError(SqlError):
    """Another writer changed the table while this statement ran; nothing was written."""


_F = TypeVar("_F", bound=Callable[..., Any])
#: set (to anything) to see lakeinfer's own frames in tracebacks of the Python API
DEBUG_VARIABLE = "LAKEINFER_DEBUG"


def short_traceback(func: _F) -> _F:
    """For the Python API's entry points: a lakeinfer error reaches the caller without the
    frames of lakeinfer's internals, so a notebook shows the caller's line and the message,
    not a page of engine code. ``LAKEINFER_DEBUG=1`` keeps the whole traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LakeinferError as exc:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            raise exc.with_traceback(None) from None

    return wrapper  # type: ignore[return-value]
