"""The executor side reads and deletes only files inside the table's directory, whatever
the Delta log or a task's message names."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeinfer.errors import AnalysisError
from lakeinfer.spark.files import DataFile, ReadPlan, read_files
from lakeinfer.spark.tables import discard_files

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
