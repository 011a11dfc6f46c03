"""What a killed statement leaves behind is never listed and is cleaned up: staging
directories of a CTAS, and (with VACUUM) data files of an INSERT that never committed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from deltalake import DeltaTable

import lakeinfer
from lakeinfer.catalog import files
from lakeinfer.errors import AnalysisError, UnknownTableError

# Runs one statement in a child process and kills it (SIGKILL) as soon as its write has put
# something in the watched directory: a staging directory of the schema (a CTAS), or a data
# file of the table (an INSERT), i.e. in the middle of the write, before its commit.
KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from pathlib import Path
    import lakeinfer

    home, watch, statement = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    before = set(os.listdir(watch))

    def written():
        return any(e.endswith((".writing", ".parquet")) for e in set(os.listdir(watch)) - before)

    def kill_when_written():
        while not written():
            time.sleep(0.0005)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=kill_when_written, daemon=True).start()
    with lakeinfer.connect(home, progress=False) as session:
        session.sql(statement)
    print("the statement finished before it was killed")
    """
)


def kill_during_write(home: Path, watch: Path, statement: str, undo: Callable[[], None]) -> None:
    """Run ``statement`` in a child killed midway; on a loaded machine the write may finish
    before the kill lands: then ``undo`` it and try again."""
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", KILLED_WRITER, str(home), str(watch), statement],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode == -9:
            return
        assert "finished before it was killed" in done.stdout, done.stdout + done.stderr
        undo()
    pytest.fail(f"{statement!r} finished three times before it could be killed")


@pytest.fixture
def s(home: Path):
    with lakeinfer.connect(home, progress=False) as session:
        yield session


# many small files: the write takes long enough to be killed between its files and its commit
SMALL_FILES = "TBLPROPERTIES ('delta.targetFileSize' = '20000')"
ROWS = "SELECT id, repeat('x', 30) AS pad FROM range(400000)"


def test_a_killed_ctas_leaves_staging_that_is_never_listed_and_swept_on_the_next_write(s, home):
    s.sql("CREATE SCHEMA main.sales; CREATE TABLE main.sales.kept AS SELECT 1 AS x")
    schema = home / "main" / "sales"
    kill_during_write(
        home,
        schema,
        f"CREATE TABLE main.sales.orders {SMALL_FILES} AS {ROWS}",
        undo=lambda: s.sql("DROP TABLE main.sales.orders"),
    )
    leftovers = [e for e in schema.iterdir() if e.name.endswith(".writing")]
    assert len(leftovers) == 1 and leftovers[0].is_dir()
    assert s.sql("SHOW TABLES IN main.sales").to_pylist() == [
        {"database": "sales", "tableName": "kept", "isTemporary": False}
    ]
    assert s.catalog.list_tables("main", "sales") == ["kept"]
    with pytest.raises(UnknownTableError) as caught:
        s.sql("SELECT * FROM main.sales.orders").to_pylist()
    assert ".writing" not in str(caught.value)
    # the next table created in the schema removes what nobody holds any more
    s.sql("CREATE TABLE main.sales.orders AS SELECT 2 AS x")
    assert sorted(e.name for e in schema.iterdir()) == ["kept", "orders"]
    assert s.sql("SELECT x FROM main.sales.orders").to_pylist() == [{"x": 2}]


def test_a_live_writers_staging_is_never_swept(home, s):
    s.sql("CREATE SCHEMA main.busy")
    schema = home / "main" / "busy"
    with files.staging(schema) as live:
        (live / "part-0.parquet").write_bytes(b"PAR1")
        s.sql("CREATE TABLE main.busy.other AS SELECT 1 AS x")  # sweeps the schema
        assert files.sweep(schema) == []
        assert (live / "part-0.parquet").exists()
    assert sorted(e.name for e in schema.iterdir()) == ["other"]


def test_vacuum_removes_the_files_of_a_killed_insert_and_keeps_every_row(s, home):
    s.sql(f"CREATE TABLE main.default.t {SMALL_FILES} AS SELECT id FROM range(5)")
    s.sql("ALTER TABLE main.default.t SET TBLPROPERTIES ('delta.targetFileSize' = '20000')")
    table_dir = home / "main" / "default" / "t"
    versions = []

    def undo() -> None:
        s.sql("DELETE FROM main.default.t WHERE id >= 5")
        versions.append(DeltaTable(str(table_dir)).version())

    versions.append(DeltaTable(str(table_dir)).version())
    insert = "INSERT INTO main.default.t SELECT id FROM range(400000)"
    kill_during_write(home, table_dir, insert, undo)
    delta = DeltaTable(str(table_dir))
    assert delta.version() == versions[-1]  # the killed INSERT committed nothing
    referenced = {str(table_dir / f) for f in delta.file_uris()} | set(delta.file_uris())
    orphans = sorted(str(p) for p in table_dir.glob("*.parquet") if str(p) not in referenced)
    assert orphans, "the killed INSERT left no file"
    rows = s.sql("SELECT count(*) AS n, sum(id) AS total FROM main.default.t").to_pylist()
    assert rows == [{"n": 5, "total": 10}]

    with pytest.raises(AnalysisError) as caught:
        s.sql("VACUUM main.default.t RETAIN 0 HOURS")
    assert "SET spark.databricks.delta.retentionDurationCheck.enabled = false" in str(caught.value)
    assert "168 hours" in str(caught.value)
    s.sql("SET spark.databricks.delta.retentionDurationCheck.enabled = false")
    dry = s.sql("VACUUM main.default.t RETAIN 0 HOURS DRY RUN").to_pylist()
    assert sorted(r["path"] for r in dry) == orphans
    assert all(Path(p).exists() for p in orphans)
    deleted = s.sql("VACUUM t RETAIN 0 HOURS").to_pylist()
    assert sorted(r["path"] for r in deleted) == orphans
    assert not any(Path(p).exists() for p in orphans)
    assert s.sql("SELECT count(*) AS n, sum(id) AS total FROM t").to_pylist() == rows
    assert s.sql("VACUUM t RETAIN 0 HOURS").to_pylist() == []


def test_vacuum_keeps_recent_files_by_default_and_names_bad_syntax(s):
    s.sql("CREATE TABLE t AS SELECT 1 AS x; INSERT OVERWRITE t SELECT 2 AS x")
    assert s.sql("VACUUM t").to_pylist() == []  # the replaced file is younger than 7 days
    assert s.sql("VACUUM t RETAIN 168 HOURS DRY RUN").to_pylist() == []
    for sql, message in {
        "VACUUM": "VACUUM takes a table name",
        "VACUUM t RETAIN x HOURS": "RETAIN takes a number of hours",
        "VACUUM t RETAIN 1 DAYS": "VACUUM takes a table name",
        "VACUUM t FULL NOW": "unexpected",
        "VACUUM t LITE RETAIN": "got RETAIN",
        "VACUUM missing": "table or view not found: main.default.missing",
        "VACUUM main.`..`.t": "invalid schema name '..'",
    }.items():
        with pytest.raises(lakeinfer.LakeinferError, match=message):
            s.sql(sql).to_pylist()
    assert s.sql("SELECT x FROM t").to_pylist() == [{"x": 2}]
