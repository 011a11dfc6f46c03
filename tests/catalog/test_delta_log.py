"""One commit read from a Delta table's log, as written by delta-rs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

from lakeinfer.catalog.delta_log import commit_versions, read_commit, schema_fields


def _rows(ids: list[int], part: str = "a") -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "part": pa.array([part] * len(ids))})


def test_appends_deletes_schema_changes_and_transactions(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_deltalake(path, _rows([1, 2]), partition_by=["part"])  # version 0
    write_deltalake(
        path,
        _rows([3, 4, 5], "b"),
        mode="append",
        partition_by=["part"],
        commit_properties=CommitProperties(app_transactions=[Transaction("stream-1", 7)]),
    )  # version 1
    DeltaTable(path).delete("id = 1")  # version 2
    wider = _rows([6]).append_column("x", pa.array([1.5]))
    write_deltalake(path, wider, mode="overwrite", schema_mode="overwrite")  # version 3

    assert commit_versions(path) == [3, 2, 1, 0]

    created = read_commit(path, 0)
    assert created is not None and created.schema is not None
    assert [name for name, _ in schema_fields(created.schema)] == ["id", "part"]
    assert [(a.rows, a.partition_values) for a in created.added] == [(2, {"part": "a"})]

    append = read_commit(path, 1)
    assert append is not None
    assert (append.operation, append.mode, append.schema) == ("WRITE", "Append", None)
    assert not append.rewrites_rows
    assert append.transactions == {"stream-1": 7}
    (added,) = append.added
    assert added.rows == 3 and added.size > 0 and added.partition_values == {"part": "b"}
    assert added.path.startswith("part=b/") and (Path(path) / added.path).is_file()

    delete = read_commit(path, 2)
    assert delete is not None and delete.operation == "DELETE" and delete.rewrites_rows

    overwrite = read_commit(path, 3)
    assert overwrite is not None and overwrite.rewrites_rows and overwrite.schema is not None
    assert [name for name, _ in schema_fields(overwrite.schema)] == ["id", "part", "x"]


def test_a_version_whose_log_is_gone(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_deltalake(path, _rows([1]))
    assert read_commit(path, 5) is None
    assert commit_versions(tmp_path / "missing") == []


def test_a_file_that_is_no_commit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t"
    write_deltalake(str(path), _rows([1]))
    (path / "_delta_log" / f"{1:020d}.json").write_text("not json\n")
    with pytest.raises(ValueError):
        read_commit(path, 1)
