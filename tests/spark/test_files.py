"""The executor side reads and deletes only files inside the table's directory, whatever
the Delta log or a task's message names."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeinfer.errors import AnalysisError
from lakeinfer.spark.files import DataFile, ReadPlan, read_files
from lakeinfer.spark.tables import discard_files, file_groups, row_ranges

SCHEMA = pa.schema([("id", pa.int64())])


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A table directory with one data file, and a Parquet file beside the table."""
    table = tmp_path / "home" / "main" / "default" / "t"
    table.mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2]}, schema=SCHEMA), table / "part-0.parquet")
    outside = tmp_path / "secret.parquet"
    pq.write_table(pa.table({"id": [42]}, schema=SCHEMA), outside)
    return table, outside


def _read(table: Path, path: str) -> list[int]:
    plan = ReadPlan(str(table), SCHEMA, SCHEMA)
    return [v for b in read_files(plan, [DataFile(path, 1)]) for v in b.column(0).to_pylist()]


def test_a_data_file_inside_the_table_is_read(layout):
    table, _ = layout
    assert _read(table, "part-0.parquet") == [1, 2]


@pytest.mark.parametrize(
    "name", ["../../../../secret.parquet", "%2E%2E/%2E%2E/%2E%2E/%2E%2E/secret.parquet"]
)
def test_a_log_entry_climbing_out_of_the_table_is_refused(layout, name):
    table, _ = layout
    with pytest.raises(AnalysisError, match="outside the table"):
        _read(table, name)


def test_an_absolute_path_or_a_link_out_of_the_table_is_refused(layout):
    table, outside = layout
    with pytest.raises(AnalysisError, match="outside the table"):
        _read(table, str(outside))
    (table / "link.parquet").symlink_to(outside)
    with pytest.raises(AnalysisError, match="outside the table"):
        _read(table, "link.parquet")


def test_discarding_never_deletes_outside_the_table(layout):
    table, outside = layout
    with pytest.raises(AnalysisError, match="outside the table"):
        discard_files(str(table), ["../../../../secret.parquet"])
    assert outside.exists()
    discard_files(str(table), ["part-0.parquet"])
    assert not (table / "part-0.parquet").exists()


def test_ranges_of_a_files_rows_give_each_row_once_and_skip_other_row_groups(tmp_path):
    table = tmp_path / "t"
    table.mkdir()
    rows = pa.table({"id": list(range(10)), "text": [f"r{i}" for i in range(10)]})
    pq.write_table(rows, table / "part-0.parquet", row_group_size=4)  # groups of 4, 4, 2
    output = pa.schema([("text", pa.string())])
    plan = ReadPlan(str(table), output, rows.schema, batch_rows=3)

    def read(start: int, stop: int) -> list[str]:
        file = DataFile("part-0.parquet", 1, records=10, rows=(start, stop))
        return [v for b in read_files(plan, [file]) for v in b.column(0).to_pylist()]

    pieces = [read(0, 3), read(3, 7), read(7, 10)]
    assert pieces == [["r0", "r1", "r2"], ["r3", "r4", "r5", "r6"], ["r7", "r8", "r9"]]
    assert read(9, 10) == ["r9"] and read(4, 4) == []
    assert read(0, 10) == [f"r{i}" for i in range(10)]


def test_a_file_with_more_than_its_share_of_rows_is_cut_into_ranges():
    big = DataFile("big.parquet", 1000, records=1000)
    small = DataFile("small.parquet", 10, records=10)
    groups = file_groups([big, small], max_bytes=10**9, min_groups=2, split=True)
    assert len(groups) == 2
    ranges = sorted(f.rows or (0, f.records) for g in groups for f in g if f.path == "big.parquet")
    assert ranges == [(0, 500), (500, 1000)]  # every row of the big file, once
    assert sorted(sum(f.size for f in g) for g in groups) == [500, 510]
    # one file, four tasks: four ranges; without split (or row counts), the file is one task
    assert [f.rows for g in file_groups([big], 10**9, 4, split=True) for f in g] == [
        (0, 250), (250, 500), (500, 750), (750, 1000)
    ]  # fmt: skip
    assert file_groups([big], 10**9, 4) == [[big]]
    unknown = DataFile("u.parquet", 1000)
    assert row_ranges([unknown, small], 4) == [unknown, small]
