"""A stream run in its own process, killed with SIGKILL at a chosen point of batch 1.

    python crash_child.py HOME CHECKPOINT [POINT]

POINT: ``after_offsets`` (batch planned and logged, no model call yet), ``before_commit`` (all
answers in hand, nothing written), ``in_commit`` (killed as soon as the Delta write has put a
data file down, before or while it commits), ``after_sink_commit`` (the Delta commit is done, the
checkpoint's commit file is not). Without POINT the stream runs to the end.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import lakeinfer
from lakeinfer import functions as F
from lakeinfer.pipelines import checkpoint, sink

KILLED_BATCH = 1


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(point: str, target: Path) -> None:
    if point == "after_offsets":
        real_offset = checkpoint.Checkpoint.write_offset

        def write_offset(self, batch_id, *args):
            result = real_offset(self, batch_id, *args)
            if batch_id == KILLED_BATCH:
                _die()
            return result

        checkpoint.Checkpoint.write_offset = write_offset
    elif point == "before_commit":
        real_commit = sink.DeltaSink.commit

        def commit(self, batch_id, data):
            if batch_id == KILLED_BATCH:
                _die()
            return real_commit(self, batch_id, data)

        sink.DeltaSink.commit = commit
    elif point == "in_commit":
        real_write = sink.write_deltalake

        def write(path, data, **options):
            before = set(Path(path).glob("*.parquet"))

            def watch() -> None:
                while True:
                    if set(Path(path).glob("*.parquet")) - before:
                        _die()
                    time.sleep(0.0005)

            if options["commit_properties"].app_transactions[0].version == KILLED_BATCH:
                threading.Thread(target=watch, daemon=True).start()
            return real_write(path, data, **options)

        sink.write_deltalake = write
    elif point == "after_sink_commit":
        real_mark = checkpoint.Checkpoint.mark_committed

        def mark(self, batch_id, info):
            if batch_id == KILLED_BATCH:
                _die()
            return real_mark(self, batch_id, info)

        checkpoint.Checkpoint.mark_committed = mark
    elif point:
        raise SystemExit(f"unknown crash point {point!r}")


def main() -> None:
    home, location = sys.argv[1], sys.argv[2]
    point = sys.argv[3] if len(sys.argv) > 3 else ""
    with lakeinfer.connect(home, progress=False) as session:
        _arm(point, session.catalog.table_path(session.catalog.qualify(["out"], session.namespace)))
        query = (
            session.readStream.option("maxRowsPerTrigger", 4)
            .table("docs")
            .select("id", F.expr("ai_query('chat', text)").alias("answer"))
            .writeStream.option("checkpointLocation", location)
            .trigger(availableNow=True)
            .toTable("out")
        )
        query.awaitTermination()
    print("done")


if __name__ == "__main__":
    main()
