"""A stream's checkpoint directory, laid out as Spark's:

    <checkpointLocation>/metadata        {"id", "source", "sink", "startVersion", "query",
                                          "sourceTableId", "sinkTableId"}
    <checkpointLocation>/offsets/<N>     batch N's planned range, written before it runs
    <checkpointLocation>/commits/<N>     written after batch N is committed to the sink

Files are written to a temporary name and renamed, so a crash leaves each either whole or
absent. On restart, a batch with an offsets file and no commits file is run again over exactly
the same range; the sink's application transaction (keyed by the checkpoint id and N) tells
whether its rows were already written. The Delta table ids recorded in the metadata, and the
batches the target's transactions hold, tie the checkpoint to its tables
(:mod:`lakeinfer.pipelines.consistency`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from lakeinfer.pipelines.errors import StreamingError
from lakeinfer.pipelines.source import Position


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temp, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StreamingError(f"unreadable checkpoint file {path}: {exc}") from None


class Checkpoint:
    """Offsets and commits of one stream."""

    def __init__(self, location: str | os.PathLike[str]):
        self.path = Path(location)
        self._lock: int | None = None

    def acquire(self) -> None:
        """Hold the checkpoint for this stream; one stream per checkpoint at a time."""
        self.path.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise StreamingError(
                f"another stream is running on checkpoint {self.path}; stop it first"
            ) from None
        self._lock = descriptor

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing drops the lock
            self._lock = None

    def delete(self) -> None:
        """Remove this checkpoint's own files (not the checkpoints of other streams kept in
        folders below it)."""
        for name in ("metadata", ".lock"):
            (self.path / name).unlink(missing_ok=True)
        for name in ("offsets", "commits"):
            shutil.rmtree(self.path / name, ignore_errors=True)

    # -- metadata ------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any] | None:
        path = self.path / "metadata"
        return _read(path) if path.exists() else None

    def initialise(
        self,
        source: str,
        sink: str,
        start_version: int,
        query: str,
        source_table_id: str | None = None,
    ) -> dict[str, Any]:
        """Create the metadata of a new stream (a fresh id for its transactions)."""
        data = {
            "id": uuid.uuid4().hex,
            "source": source,
            "sink": sink,
            "startVersion": start_version,
            "query": query,
            "sourceTableId": source_table_id,
        }
        _write_atomic(self.path / "metadata", data)
        return data

    def record(self, metadata: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Add ``fields`` to the metadata (e.g. the target's table id once it exists)."""
        data = {**metadata, **fields}
        _write_atomic(self.path / "metadata", data)
        return data

    def check(self, metadata: dict[str, Any], source: str, sink: str) -> None:
        """A checkpoint belongs to one source and one sink."""
        for key, value in (("source", source), ("sink", sink)):
            if metadata.get(key) != value:
                raise StreamingError(
                    f"checkpoint {self.path} belongs to a stream with {key} "
                    f"{metadata.get(key)}, not {value}; use another checkpointLocation"
                )

    # -- offsets and commits ---------------------------------------------------------------
    @staticmethod
    def _ids(folder: Path) -> list[int]:
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())

    def last_offset(self) -> tuple[int, dict[str, Any]] | None:
        ids = self._ids(self.path / "offsets")
        if not ids:
            return None
        return ids[-1], _read(self.path / "offsets" / str(ids[-1]))

    def last_committed(self) -> int:
        """The id of the last batch with a commit file (-1: none)."""
        ids = self._ids(self.path / "commits")
        return ids[-1] if ids else -1

    def is_committed(self, batch_id: int) -> bool:
        return (self.path / "commits" / str(batch_id)).exists()

    def write_offset(
        self, batch_id: int, start: Position, end: Position, latest: int
    ) -> dict[str, Any]:
        data = {
            "batchId": batch_id,
            "start": start.to_json(),
            "end": end.to_json(),
            "latestVersion": latest,
        }
        _write_atomic(self.path / "offsets" / str(batch_id), data)
        return data

    def mark_committed(self, batch_id: int, info: dict[str, Any]) -> None:
        _write_atomic(self.path / "commits" / str(batch_id), {"batchId": batch_id, **info})

    def commits(self) -> list[dict[str, Any]]:
        """What each committed batch recorded (oldest first)."""
        folder = self.path / "commits"
        return [_read(folder / str(i)) for i in self._ids(folder)]
