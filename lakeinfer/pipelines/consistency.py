"""A checkpoint must match the history of the tables it names, or the stream does not start.

A checkpoint says which batches were written; the target table's Delta application
transaction for the checkpoint's id says which batches it holds. They agree when the table
holds exactly the batches the checkpoint committed, or one more (a crash after the Delta commit,
before the checkpoint's commit file: that batch is recovered, not written again). Anything else
means the checkpoint belongs to another table (re-created, restored, or in another lakehouse),
and resuming would silently skip or duplicate rows, so it is an error naming both sides.
"""

from __future__ import annotations

from typing import Any

from lakeinfer.pipelines.checkpoint import Checkpoint
from lakeinfer.pipelines.errors import StreamingError
from lakeinfer.pipelines.sink import DeltaSink


def _fix(checkpoint: Checkpoint) -> str:
    return (
        f"delete the checkpoint ({checkpoint.path}) to start the stream over from the source's "
        "first row, or point the stream at the table and lakehouse it was made for"
    )


def verify_source(checkpoint: Checkpoint, metadata: dict[str, Any], source_id: str) -> None:
    """The source is the table the checkpoint's positions were taken in."""
    recorded = metadata.get("sourceTableId")
    if recorded and recorded != source_id:
        raise StreamingError(
            f"checkpoint {checkpoint.path} was made for source table {metadata['source']} with "
            f"Delta table id {recorded}, but {metadata['source']} now has id {source_id} (it was "
            f"re-created, or it is another lakehouse's table); {_fix(checkpoint)}"
        )


def verify_sink(checkpoint: Checkpoint, metadata: dict[str, Any], sink: DeltaSink) -> None:
    """The target holds the batches the checkpoint committed (and at most the pending one)."""
    committed = checkpoint.last_committed()
    last = checkpoint.last_offset()
    pending = last[0] if last is not None and last[0] > committed else None
    table_id = sink.table_id()
    if table_id is None:
        if committed >= 0:
            raise StreamingError(
                f"checkpoint {checkpoint.path} records batches 0 to {committed} as written to "
                f"{sink.name}, but that table does not exist (dropped, or another lakehouse); "
                f"{_fix(checkpoint)}"
            )
        return
    recorded = metadata.get("sinkTableId")
    if recorded and recorded != table_id:
        raise StreamingError(
            f"checkpoint {checkpoint.path} was made for table {sink.name} with Delta table id "
            f"{recorded}, but {sink.name} now has id {table_id} (it was dropped and re-created, "
            f"or it is another lakehouse's table); {_fix(checkpoint)}"
        )
    written = sink.committed_version()
    if written < committed:
        holds = (
            "has no commit of this stream"
            if written < 0
            else f"holds this stream's batches only up to batch {written}"
        )
        raise StreamingError(
            f"checkpoint {checkpoint.path} records batch {committed} as written to "
            f"{sink.name}, but the table {holds} (transactions of stream id {sink.app_id}): it "
            f"was re-created, restored to an older version, or belongs to another lakehouse; "
            f"{_fix(checkpoint)}"
        )
    if written > committed and written != pending:
        raise StreamingError(
            f"table {sink.name} holds batch {written} of this stream, but checkpoint "
            f"{checkpoint.path} knows batches only up to {max(committed, pending or -1)}: the "
            f"checkpoint is older than the table (restored from a copy?); {_fix(checkpoint)}"
        )
