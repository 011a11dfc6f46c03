"""The state of a stream, read from its checkpoint, its source and its target (no stream needs to
run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakeinfer.catalog.delta_catalog import DeltaCatalog, Namespace
from lakeinfer.pipelines.checkpoint import Checkpoint
from lakeinfer.pipelines.errors import StreamingError
from lakeinfer.pipelines.sink import DeltaSink
from lakeinfer.pipelines.source import DeltaSource, Position


def stream_status(catalog: DeltaCatalog, location: str) -> dict[str, Any]:
    """Source, sink, batches committed, rows written, pending batch and lag in versions and
    rows (rows not yet read from the source)."""
    checkpoint = Checkpoint(location)
    metadata = checkpoint.metadata()
    if metadata is None or not Path(location).is_dir():
        raise StreamingError(f"no stream checkpoint at {location}")
    commits = checkpoint.commits()
    last = checkpoint.last_offset()
    position = Position(int(metadata["startVersion"]))
    pending = None
    if last is not None:
        batch_id, offset = last
        if checkpoint.is_committed(batch_id):
            position = Position.from_json(offset["end"])
        else:
            pending = batch_id
            position = Position.from_json(offset["start"])
    source_name = DeltaCatalog.qualify(metadata["source"].split("."), Namespace())
    source = DeltaSource(
        catalog.table_path(source_name), metadata["source"], int(metadata["startVersion"])
    )
    latest = source.latest_version()
    lag_rows = source.rows_after(position, latest)
    sink = DeltaSink(
        catalog, DeltaCatalog.qualify(metadata["sink"].split("."), Namespace()), metadata["id"]
    )
    return {
        "source": metadata["source"],
        "sink": metadata["sink"],
        "batches_committed": len(commits),
        "rows_written": _rows_written(sink, commits, pending),
        "pending_batch": pending,
        "source_version": latest,
        "next_version": position.version,
        "lag_versions": max(0, latest - position.version + 1) if lag_rows else 0,
        "lag_rows": lag_rows,
    }


def _rows_written(sink: DeltaSink, commits: list[dict[str, Any]], pending: int | None) -> int:
    """The rows the stream's commits put in the target: what each batch's commit file says,
    and, for a batch the target holds but the checkpoint has not marked yet (a crash between
    the two), what the target's commit of it added."""
    total = 0
    for commit in commits:
        rows = int(commit.get("numOutputRows") or 0)
        if not commit.get("written", True) and "recovered" not in commit:
            # written by an earlier run that crashed; older checkpoints recorded 0 for it
            rows = sink.written_rows(int(commit["batchId"])) or rows
        total += rows
    if pending is not None and sink.committed_version() >= pending:
        total += sink.written_rows(pending) or 0
    return total
