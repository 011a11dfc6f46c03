"""The persistent response cache: re-run a finished query for free, resume after a crash.

A SQLite file at ``<home>/_cache/responses.sqlite`` (WAL mode) maps a key to the model's raw
answer. The key hashes everything that makes two calls identical: the endpoint name, the model
behind it (base URL and model name, or the embedded GGUF), the request and the model parameters
(which include ``response_format``). What is done with the answer afterwards (the cast to
``returnType``, a task function's parsing) is not part of it, so a statement re-run after
fixing its ``returnType`` pays for no call. Failed answers are never cached, so a re-run
retries them.

Answers are written as they arrive, in small batches (at most ``FLUSH_EVERY`` answers or
``FLUSH_SECONDS`` old), each its own committed transaction: a process killed mid-statement
keeps every answer flushed before it died, so running the statement again calls only the rest.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FLUSH_EVERY = 256
FLUSH_SECONDS = 0.5
SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    value TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class CachedAnswer:
    value: Any
    prompt_tokens: int
    completion_tokens: int


def cache_keys(
    endpoint: str, identity: str, requests: Iterable[Any], parameters: dict[str, Any]
) -> list[str]:
    """The cache key of each of ``requests`` sharing the other parts: the hex SHA-256 of the
    JSON list ``[endpoint, identity, request, parameters]`` (keys sorted), with the constant
    parts encoded once."""
    head = json.dumps([endpoint, identity], sort_keys=True, default=str)[:-1] + ", "
    tail = ", " + json.dumps(parameters, sort_keys=True, default=str) + "]"
    dumps, sha256 = json.dumps, hashlib.sha256
    return [
        sha256(
            (
                head
                + (dumps(r) if isinstance(r, str) else dumps(r, sort_keys=True, default=str))
                + tail
            ).encode()
        ).hexdigest()
        for r in requests
    ]


class ResponseCache:
    """Thread-safe access to the cache file; writes are buffered (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        import sqlite3  # on first use: most statements never open the cache

        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str, str, int, int, float]] = []
        self._oldest = 0.0

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        """The cached answers among ``keys``."""
        found: dict[str, CachedAnswer] = {}
        keys = list(keys)
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, value, prompt_tokens, completion_tokens FROM responses "
                    f"WHERE key IN ({marks})",
                    chunk,
                ).fetchall()
                for key, value, prompt, completion in rows:
                    found[key] = CachedAnswer(json.loads(value), prompt, completion)
        return found

    def put(
        self, key: str, endpoint: str, value: Any, prompt_tokens: int, completion_tokens: int
    ) -> None:
        """Buffer one answer; flushed when the buffer is full or old enough."""
        now = time.monotonic()
        with self._lock:
            if not self._pending:
                self._oldest = now
            self._pending.append(
                (key, endpoint, json.dumps(value), prompt_tokens, completion_tokens, time.time())
            )
            if len(self._pending) >= FLUSH_EVERY or now - self._oldest >= FLUSH_SECONDS:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)", rows)
        self._db.execute("COMMIT")

    def stats(self) -> list[dict[str, Any]]:
        """Entries and stored bytes per endpoint."""
        self.flush()
        with self._lock:
            rows = self._db.execute(
                "SELECT endpoint, count(*), sum(length(value)), min(created_at), max(created_at) "
                "FROM responses GROUP BY endpoint ORDER BY endpoint"
            ).fetchall()
        return [
            {"endpoint": e, "entries": n, "bytes": b, "oldest": lo, "newest": hi}
            for e, n, b, lo, hi in rows
        ]

    def clear(self, endpoint: str | None = None) -> int:
        """Delete all entries (or one endpoint's); returns how many were deleted."""
        self.flush()
        with self._lock:
            if endpoint is None:
                cursor = self._db.execute("DELETE FROM responses")
            else:
                cursor = self._db.execute("DELETE FROM responses WHERE endpoint = ?", (endpoint,))
            self._db.execute("VACUUM")
            return cursor.rowcount

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._db.close()


def cache_path(home: Path) -> Path:
    return home / "_cache" / "responses.sqlite"
