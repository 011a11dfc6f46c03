"""The provider batches a lakehouse's statements submitted, kept so a statement that was killed
or closed picks up its batch again instead of paying for the requests twice.

    <home>/_batches/<id>.json     one record per batch input file
    <home>/_batches/<id>-<N>.json an earlier batch of the same file (failed, expired,
                                  cancelled or collected), kept for `lakeinfer batches list`

``<id>`` is the hash of the endpoint's identity (base URL, model) and the input file's bytes,
whose lines are the statement's uncached requests in a fixed order: the same statement over the
same rows, run again, builds the same file and finds its record. A record holds the remote
batch's id, its input, output and error file ids, its last known status and request counts, and
when its answers were collected. The folder starts with ``_``, which the catalog never lists as
a catalog; a record is written whole to a temporary file and renamed, so a reader never sees
half of one.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lakeinfer.errors import LakeinferError

BATCHES_DIR = "_batches"
_ID = re.compile(r"^[0-9a-f]{32}$")
#: a record file: the live record of an input file, or (``-N``) a batch submitted before it
_FILE = re.compile(r"^[0-9a-f]{32}(-[0-9]+)?$")
#: statuses after which a batch changes no more
FINISHED = frozenset({"completed", "failed", "expired", "cancelled"})


class BatchRecordError(LakeinferError):
    """A batch record that does not exist or cannot be read."""


@dataclass
class BatchRecord:
    """One submitted batch input file and what is known of its batch."""

    id: str
    endpoint: str
    batch_id: str
    input_file_id: str
    requests: int
    bytes: int
    status: str = "validating"
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    #: when a statement took its answers (None: not yet, so a re-run picks the batch up)
    collected_at: float | None = None
    statement: str | None = None

    def update(self, batch: dict[str, Any]) -> None:
        """Take the status, file ids and request counts of the provider's batch object."""
        self.status = str(batch.get("status") or self.status)
        self.output_file_id = batch.get("output_file_id") or self.output_file_id
        self.error_file_id = batch.get("error_file_id") or self.error_file_id
        counts = batch.get("request_counts") or {}
        self.completed = int(counts.get("completed") or 0)
        self.failed = int(counts.get("failed") or 0)
        self.updated_at = time.time()

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def row(self) -> dict[str, Any]:
        """The record as shown by ``lakeinfer batches list``."""
        return {
            "batch_id": self.batch_id,
            "endpoint": self.endpoint,
            "status": self.status,
            "requests": self.requests,
            "completed": self.completed,
            "failed": self.failed,
            "collected": self.collected_at is not None,
            "created_at": self.created_at,
            "record": self.id,
        }


class BatchRecords:
    """The batch records of the lakehouse at ``home``."""

    def __init__(self, home: Path):
        self.root = Path(home) / BATCHES_DIR

    def path(self, record_id: str) -> Path:
        if not _ID.match(record_id):
            raise BatchRecordError(f"invalid batch record id {record_id!r}")
        return self.root / f"{record_id}.json"

    def get(self, record_id: str) -> BatchRecord | None:
        path = self.path(record_id)
        if not path.exists():
            return None
        return _read(path)

    def put(self, record: BatchRecord) -> None:
        path = self.path(record.id)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(record), indent=1))
        tmp.replace(path)

    def supersede(self, record_id: str) -> None:
        """Keep the record of ``record_id`` under a new name: a new batch of the same file is
        about to be recorded."""
        path = self.path(record_id)
        if not path.exists():
            return
        number = 1
        while (older := self.root / f"{record_id}-{number}.json").exists():
            number += 1
        path.replace(older)

    def __iter__(self) -> Iterator[BatchRecord]:
        if not self.root.is_dir():
            return
        paths = sorted(self.root.glob("*.json"))
        records = [_read(p) for p in paths if _FILE.match(p.stem)]
        yield from sorted(records, key=lambda r: r.created_at)

    def find(self, reference: str) -> BatchRecord:
        """The record of batch ``reference`` (the provider's batch id, or the record's id)."""
        found = [r for r in self if reference in (r.batch_id, r.id)]
        if found:  # a record id names the newest batch of its file
            return found[-1]
        raise BatchRecordError(
            f"no batch {reference!r} in this lakehouse (see `lakeinfer batches list`)"
        )


def _read(path: Path) -> BatchRecord:
    try:
        data = json.loads(path.read_text())
        return BatchRecord(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise BatchRecordError(f"unreadable batch record {path}: {exc}") from None
