"""lakeinfer: run LLM and ML inference over tables, straight from SQL.

    import lakeinfer
    session = lakeinfer.connect(home="./lakehouse")
    session.sql("SELECT text, ai_query('databricks-meta-llama-3-1-8b-instruct', "
                "'Summarize: ' || text) AS summary FROM main.default.reviews LIMIT 10").show()

Nothing heavy (DuckDB, Delta, HTTP clients, model runtimes) is imported until it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakeinfer.errors import (
    AnalysisError,
    ConfigError,
    EndpointError,
    LakeinferError,
    RuntimeUnavailableError,
    SqlError,
    SqlSyntaxError,
    TableExistsError,
    UnknownEndpointError,
    UnknownTableError,
)

if TYPE_CHECKING:
    from lakeinfer.session import Result, Session

__version__ = "0.1.0"

__all__ = [
    "AnalysisError",
    "ConfigError",
    "EndpointError",
    "LakeinferError",
    "Result",
    "RuntimeUnavailableError",
    "Session",
    "SqlError",
    "SqlSyntaxError",
    "TableExistsError",
    "UnknownEndpointError",
    "UnknownTableError",
    "__version__",
    "connect",
]


def connect(home: Any = None, **options: Any) -> Session:
    """Open a session on a lakehouse directory: ``--home`` > ``$LAKEINFER_HOME`` >
    ``./lakehouse``. See :class:`lakeinfer.session.Session` for the options."""
    from lakeinfer.session import Session

    return Session(home, **options)


def __getattr__(name: str) -> Any:
    if name in ("Session", "Result"):
        from lakeinfer import session

        return getattr(session, name)
    raise AttributeError(f"module 'lakeinfer' has no attribute {name!r}")
