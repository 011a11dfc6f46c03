"""The source's batch planning over Delta versions, files and rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from lakeinfer.pipelines.source import DeltaSource, Limits, Position, slices_between


def _source(tmp_path: Path, commits: list[int]) -> DeltaSource:
    path = tmp_path / "src"
    start = 0
    for size in commits:
        ids = list(range(start, start + size))
        mode = "append" if start else "error"
        write_deltalake(str(path), pa.table({"id": pa.array(ids, pa.int64())}), mode=mode)
        start += size
    return DeltaSource(path, "src", start_version=0)


def test_planning_walks_versions_files_and_rows(tmp_path: Path):
    source = _source(tmp_path, [3, 2, 4])  # versions 0, 1, 2
    latest = source.latest_version()
    assert latest == 2
    schema = source.arrow_schema()
    position, batches = Position(0), []
    while True:
        slices, end = source.plan(position, latest, Limits(max_rows=4))
        if not slices:
            break
        assert slices_between(source, position, end, latest) == slices  # replayable
        batches.append(source.read(slices, schema).column("id").to_pylist())
        position = end
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    assert position == Position(3)
    assert source.rows_after(Position(1, 0, 1), latest) == 5


def test_max_files_takes_whole_files_and_at_least_one(tmp_path: Path):
    source = _source(tmp_path, [3, 2, 4])
    slices, end = source.plan(Position(0), 2, Limits(max_files=2))
    assert [(s.version, s.stop - s.start) for s in slices] == [(0, 3), (1, 2)]
    assert end == Position(2)
    slices, _ = source.plan(Position(0), 2, Limits(max_bytes=1))
    assert [(s.version, s.stop - s.start) for s in slices] == [(0, 1)]  # soft limit
