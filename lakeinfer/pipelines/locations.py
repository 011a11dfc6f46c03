"""Where stream checkpoints live: in the lakehouse they write into.

    <home>/_checkpoints/<catalog>/<schema>/<table>/           a streaming table's own stream
    <home>/_checkpoints/<catalog>/<schema>/<table>/<name>/    a stream into that table

``<name>`` is the stream's source table (``main.reviews.clean``) unless the stream is given a
name (a job's ``checkpoint:``, ``queryName``). So a job run against another lakehouse starts
that lakehouse's own checkpoints, and dropping the lakehouse drops its checkpoints with it. The
folder starts with ``_``, which the catalog never lists as a catalog.

A name becomes a folder only through :func:`stream_checkpoint`, which refuses what could leave
the folder (``..``, absolute paths, separators other than ``/``, hidden names) and checks the
resolved path. Only an explicit ``checkpointLocation`` (Python) or ``--checkpoint`` (command
line) is used as the path it is, wherever it points: the user chose it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from lakeinfer.pipelines.errors import StreamingError

if TYPE_CHECKING:
    from lakeinfer.catalog.delta_catalog import TableName

CHECKPOINTS_DIR = "_checkpoints"
#: A checkpoint's own entries, which a stream name cannot shadow.
RESERVED = frozenset({"metadata", "offsets", "commits"})
MAX_NAME = 255
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


def checkpoints_root(home: Path) -> Path:
    """The folder holding every checkpoint of the lakehouse at ``home``."""
    return Path(home) / CHECKPOINTS_DIR


def table_checkpoints(home: Path, target: TableName) -> Path:
    """The checkpoints of the streams writing into ``target`` (a streaming table's own)."""
    return _inside(home, checkpoints_root(home) / target.catalog / target.schema / target.table)


def check_stream_name(name: str) -> str:
    """``name`` if it can name a checkpoint folder: one or more ``/``-separated parts of
    letters, digits, ``_``, ``-`` and ``.`` (not first), none of them a checkpoint's own
    ``metadata``, ``offsets`` or ``commits``. Raises :class:`StreamingError` saying why not."""
    if not name or len(name) > MAX_NAME:
        raise StreamingError(f"checkpoint name {name!r} must have 1 to {MAX_NAME} characters")
    if name.startswith("/") or name.startswith("~"):
        raise StreamingError(
            f"checkpoint name {name!r} is an absolute path; a job's checkpoint is a name kept "
            "in the lakehouse (pass an explicit path with `lakeinfer stream run --checkpoint`)"
        )
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise StreamingError(
                f"checkpoint name {name!r} has an empty, '.' or '..' part; it must stay "
                "inside the lakehouse"
            )
        if not _PART.match(part):
            raise StreamingError(
                f"checkpoint name {name!r}: part {part!r} may hold letters, digits, '_', '-' "
                "and '.' (not first), at most 128 characters"
            )
        if part.lower() in RESERVED:
            raise StreamingError(
                f"checkpoint name {name!r}: {part!r} is a checkpoint's own folder; pick another"
            )
    return name


def stream_checkpoint(
    home: Path, target: TableName, source: TableName, name: str | None = None
) -> Path:
    """The checkpoint of the stream from ``source`` into ``target`` in the lakehouse at
    ``home``: ``<home>/_checkpoints/<c>/<s>/<t>/<name or source>``."""
    key = check_stream_name(name) if name is not None else str(source)
    return _inside(home, table_checkpoints(home, target) / key)


def explicit_checkpoint(location: str | os.PathLike[str]) -> Path:
    """A checkpoint path the user gave explicitly, as an absolute path (relative to the
    current directory, ``~`` expanded)."""
    text = os.fspath(location)
    if not text.strip():
        raise StreamingError("the checkpoint location is empty")
    return Path(text).expanduser().absolute()


def find_checkpoints(home: Path) -> list[tuple[str, Path]]:
    """``(target table, checkpoint folder)`` of every stream checkpoint in the lakehouse."""
    root = checkpoints_root(home)
    if not root.is_dir():
        return []
    found = []
    for table in sorted(root.glob("*/*/*")):
        if not table.is_dir():
            continue
        target = ".".join(table.relative_to(root).parts)
        for metadata in sorted(table.rglob("metadata")):
            if metadata.is_file():
                found.append((target, metadata.parent))
    return found


def _inside(home: Path, path: Path) -> Path:
    """``path`` if, links resolved, it lies inside the lakehouse's checkpoint folder."""
    root = checkpoints_root(home).resolve()
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise StreamingError(
            f"checkpoint {path} would lie outside {checkpoints_root(home)} (a link?); refusing it"
        )
    return path
