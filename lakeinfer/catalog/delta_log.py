"""One commit of a Delta table, read from its log (``_delta_log/<version>.json``).

Streams read a table version by version: which files a commit added, whether it rewrote or
deleted rows, whether it changed the schema, which writer's transaction it records. delta-rs
answers for a whole snapshot; this module reads the one commit asked for, in one place, for
every reader that follows a table's versions (the pipelines' streaming source and sink, the
Spark stream reader).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG_DIRECTORY = "_delta_log"


@dataclass(frozen=True)
class AddedFile:
    """A data file a commit added: its path as the log spells it (relative to the table,
    URL-quoted), its size, its row count (None when the writer kept no statistics) and its
    partition values."""

    path: str
    size: int
    rows: int | None
    partition_values: dict[str, str | None]


@dataclass(frozen=True)
class Commit:
    """What one version of a table did."""

    version: int
    #: the operation of the commit's ``commitInfo`` ("WRITE", "MERGE", ...; "?" when absent)
    operation: str
    #: the operation's ``mode`` parameter ("Append", "Overwrite"; None when absent)
    mode: str | None
    #: the table's schema string when the commit (re)wrote the table's metadata
    schema: str | None
    #: whether the commit removed data files with data changes (a DELETE, UPDATE, overwrite)
    rewrites_rows: bool
    #: the data files the commit added with data changes, in the log's order
    added: tuple[AddedFile, ...]
    #: the application transactions it records: application id -> that writer's version
    transactions: dict[str, int]


def log_directory(table_path: str | Path) -> Path:
    """The table's ``_delta_log`` directory."""
    return Path(table_path) / LOG_DIRECTORY


def commit_versions(table_path: str | Path) -> list[int]:
    """The versions whose commit file is still in the log, newest first."""
    log = log_directory(table_path)
    if not log.is_dir():
        return []
    return sorted((int(p.stem) for p in log.glob("*.json") if p.stem.isdigit()), reverse=True)


def read_commit(table_path: str | Path, version: int) -> Commit | None:
    """The commit of ``version``; None when its log file is gone (cleaned up, or never
    written). A file that is not a Delta commit raises ``ValueError``."""
    try:
        lines = (log_directory(table_path) / f"{version:020d}.json").read_text().splitlines()
    except FileNotFoundError:
        return None
    actions: list[dict[str, Any]] = [json.loads(line) for line in lines if line.strip()]
    info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
    schema = None
    added = []
    transactions: dict[str, int] = {}
    for action in actions:
        if "metaData" in action:
            schema = action["metaData"]["schemaString"]
        if "txn" in action:
            txn = action["txn"]
            transactions[txn["appId"]] = int(txn["version"])
        add = action.get("add")
        if add is not None and add.get("dataChange", True):
            stats = json.loads(add["stats"]) if add.get("stats") else {}
            rows = stats.get("numRecords")
            added.append(
                AddedFile(
                    add["path"],
                    int(add["size"]),
                    None if rows is None else int(rows),
                    dict(add.get("partitionValues") or {}),
                )
            )
    return Commit(
        version=version,
        operation=info.get("operation", "?"),
        mode=(info.get("operationParameters") or {}).get("mode"),
        schema=schema,
        rewrites_rows=any((a.get("remove") or {}).get("dataChange") for a in actions),
        added=tuple(added),
        transactions=transactions,
    )


def schema_fields(schema_string: str) -> list[tuple[str, str]]:
    """``(name, type)`` of a Delta schema string, to compare schemas across versions."""
    return [(f["name"], json.dumps(f["type"])) for f in json.loads(schema_string)["fields"]]
