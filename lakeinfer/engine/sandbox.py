"""What SQL may reach beyond the lakehouse's tables: files, extensions, the network.

Every session's DuckDB connection has automatic extension install turned off: a query never
downloads code (extensions already installed still load on demand).

A *sandboxed* session, the one behind the web workspace and any other entry point that runs
SQL sent over the network, is closed further with DuckDB's own access settings, then locked
so no statement can change them back:

* ``allowed_directories``: the lakehouse and the directories the user allowed; with
  ``enable_external_access = false`` DuckDB's file readers (``read_files``, ``read_csv``,
  ``read_text``, ``glob``, ...) open nothing else, and ``COPY``, ``ATTACH`` and URLs are
  refused;
* extensions are neither installed nor loaded (so no ``httpfs``: no network from SQL);
* ``lock_configuration = true``.

lakeinfer's own Python-side file handling reachable from SQL (``read_files`` looks at a
directory before DuckDB reads it) applies the same rule through :meth:`SqlSandbox.check`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lakeinfer.errors import AnalysisError

#: DuckDB settings of every session
PLAIN_CONFIG = {"autoinstall_known_extensions": False}


@dataclass(frozen=True)
class SqlSandbox:
    """The directories (resolved, absolute) sandboxed SQL may read files under."""

    allowed: tuple[Path, ...]

    @classmethod
    def of(cls, home: Path, extra: Iterable[str | os.PathLike[str]] = ()) -> SqlSandbox:
        """The sandbox of a session on ``home``: the lakehouse plus ``extra`` directories."""
        directories = [Path(home), *(Path(d).expanduser() for d in extra)]
        resolved: list[Path] = []
        for directory in directories:
            path = directory.resolve()
            if path not in resolved:
                resolved.append(path)
        return cls(tuple(resolved))

    def describe(self) -> str:
        return ", ".join(str(p) for p in self.allowed)

    def allows(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (after resolving ``..`` and links) lies inside an allowed directory."""
        if "://" in str(path):
            return False  # URLs: the network is off
        resolved = Path(path).expanduser().resolve()
        return any(resolved == d or resolved.is_relative_to(d) for d in self.allowed)

    def check(self, path: str, what: str) -> None:
        """Refuse ``path`` (a file, directory or glob) unless it lies inside the sandbox."""
        if "://" in path:
            raise AnalysisError(f"{what}: cannot read {path!r}: SQL here may not reach the network")
        base = _glob_base(path)
        if not self.allows(base):
            raise AnalysisError(
                f"{what}: {path!r} is outside the directories this session may read "
                f"({self.describe()})"
            )


def connect(sandbox: SqlSandbox | None) -> tuple[duckdb.DuckDBPyConnection, Callable[[], None]]:
    """A session's DuckDB connection (sandboxed when ``sandbox`` is given) and the function
    that closes it. Call :func:`lock` once the session has registered its functions."""
    if sandbox is None:
        con = duckdb.connect(":memory:", config=PLAIN_CONFIG)
        return con, con.close
    con = duckdb.connect(":memory:", config={**PLAIN_CONFIG, "autoload_known_extensions": False})
    # DuckDB also allows the directory it spills to: make that a private, empty one
    spill = tempfile.mkdtemp(prefix="lakeinfer-duckdb-")

    def close() -> None:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)

    try:
        con.execute("SET temp_directory = ?", [spill])
        con.execute("SET allowed_directories = ?", [[_directory(p) for p in sandbox.allowed]])
        con.execute("SET enable_external_access = false")
    except BaseException:
        close()
        raise
    return con, close


def lock(con: duckdb.DuckDBPyConnection, sandbox: SqlSandbox | None) -> None:
    """Forbid any later change of a sandboxed connection's settings (``SET`` included)."""
    if sandbox is not None:
        con.execute("SET lock_configuration = true")


def refusal_message(duckdb_message: str) -> str:
    """What a user reads when DuckDB refuses a sandboxed statement: which file, and why."""
    found = _REFUSED_FILE.search(duckdb_message)
    if found is not None:
        return (
            f"cannot read {found.group(1)!r}: SQL here may read files only inside the lakehouse "
            f"and the directories allowed for it (lakeinfer ui --allow-dir DIR)"
        )
    if "extension" in duckdb_message.lower():
        return "SQL here may not install or load DuckDB extensions"
    return "SQL here may not do that: " + duckdb_message.removeprefix("Permission Error: ")


_REFUSED_FILE = re.compile(r'Cannot access (?:file|directory) "([^"]*)"')


def _directory(path: Path) -> str:
    # DuckDB matches allowed directories as prefixes: the separator keeps /data from
    # also allowing /data2
    return str(path).rstrip(os.sep) + os.sep


def _glob_base(path: str) -> str:
    """The part of ``path`` before its first glob character (the directory searched)."""
    for index, char in enumerate(path):
        if char in "*?[{":
            head, separator, _ = path[:index].rpartition("/")
            return head or ("/" if separator else ".")
    return path
