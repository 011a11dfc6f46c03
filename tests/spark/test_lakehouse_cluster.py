"""lakeinfer tables on a real standalone cluster: a master and two workers as processes on
127.0.0.1, drivers in processes of their own (so a test can kill one midway)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable

import lakeinfer
from lakeinfer.spark.cluster import StandaloneCluster
from tests.conftest import configure

DRIVER = Path(__file__).with_name("cluster_driver.py")
ROOT = Path(__file__).parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LAKEINFER_HOME": ""}


@pytest.fixture(scope="module")
def cluster() -> Iterator[StandaloneCluster]:
    with StandaloneCluster(cores=1, memory="1g", workers=2, start_timeout_s=240) as running:
        yield running


@pytest.fixture
def lake(home: Path) -> Iterator[lakeinfer.Session]:
    """``main.default.reviews``: version 1 holds ids 1-3, version 2 adds ids 4-5."""
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE reviews (id BIGINT, text STRING)")
        session.sql("INSERT INTO reviews VALUES (1, 'good'), (2, 'bad'), (3, 'good')")
        session.sql("INSERT INTO reviews VALUES (4, 'fine'), (5, 'good')")
        yield session


def _driver(cluster: StandaloneCluster, home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(DRIVER), cluster.master_url, str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 300) -> list[dict]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _kill(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate(timeout=60)


def _wait(condition, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _ids(path: Path) -> list[int]:
    return sorted(DeltaTable(str(path)).to_pyarrow_table()["id"].to_pylist())


def test_read_and_write_modes_on_two_workers(cluster, lake, home):
    lines = _finish(_driver(cluster, home, "roundtrip"))
    read = next(line for line in lines if "rows" in line)
    assert read["rows"] == [1, 2, 3, 4, 5] and read["partitions"] == 2
    assert read["pruned"] == ["id"] and read["old"] == [1, 2, 3]
    assert "main.default.copy already exists" in next(x for x in lines if "refused" in x)["refused"]
    assert lines[-1] == {"done": True, "executors": 2}
    copy = home / "main/default/copy"
    assert _ids(copy) == [1]
    history = DeltaTable(str(copy)).history()
    assert [h["lakeinfer.operation"] for h in history] == [
        "WRITE OVERWRITE", "WRITE APPEND", "CREATE TABLE"
    ]  # fmt: skip


def test_a_job_killed_mid_write_leaves_the_table_unchanged(cluster, lake, home):
    path = home / "main/default/reviews"
    before = {p.name for p in path.glob("*.parquet")}
    driver = _driver(cluster, home, "slow-append", "main.default.reviews")
    try:
        # executors have opened data files in the table's directory
        _wait(lambda: {p.name for p in path.glob("*.parquet")} - before, "executors to write")
        cluster.kill_worker(0)
        _kill(driver)
    finally:
        if driver.poll() is None:
            _kill(driver)
    table = DeltaTable(str(path))
    assert table.version() == 2 and _ids(path) == [1, 2, 3, 4, 5]
    assert lake.sql("SELECT count(*) AS n FROM reviews").to_pylist() == [{"n": 5}]
    stray = {p.name for p in path.glob("*.parquet")} - before
    assert stray  # written, never committed: invisible to readers
    removed = table.vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False, full=True
    )
    assert {Path(p).name for p in removed} == stray
    assert _ids(path) == [1, 2, 3, 4, 5]


def test_sql_spark_ctas_with_ai_query_then_read_back(cluster, lake, home, fake_server):
    configure(home, fake_server, chat={"max_retries": 0})
    done = subprocess.run(
        [
            sys.executable, "-m", "lakeinfer.cli", "--home", str(home), "sql",
            "--spark", cluster.master_url,
            "CREATE TABLE main.default.summaries AS SELECT id, "
            "ai_query('chat', 'Summarize: ' || text) AS summary FROM main.default.reviews",
        ],
        capture_output=True, text=True, timeout=600, env=ENV,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # the summary line counts the calls the executors made, summed on the driver
    summary = next(line for line in done.stderr.splitlines() if line.startswith("ai: "))
    calls = int(re.search(r"(\d+) calls", summary).group(1))
    assert calls == fake_server.stats()["chat"] >= 3 and "0 errors" in summary
    with lakeinfer.connect(home, progress=False) as session:
        embedded = session.sql("SELECT * FROM summaries ORDER BY id").to_pylist()
        history = session.sql("DESCRIBE HISTORY summaries").to_pylist()
    delta = DeltaTable(str(home / "main/default/summaries")).to_pyarrow_table().sort_by("id")
    assert delta.to_pylist() == embedded
    assert embedded[0] == {"id": 1, "summary": "echo: Summarize: good"}
    assert len(history) == 1 and "CREATE TABLE AS SELECT" in str(history[0])


def test_a_stream_killed_and_restarted_delivers_every_row_once(cluster, lake, home, tmp_path):
    sink = home / "main/default/mirror"
    checkpoint = str(tmp_path / "checkpoint")
    args = ("stream", "main.default.reviews", "main.default.mirror", checkpoint)
    driver = _driver(cluster, home, *args)
    try:
        _wait(lambda: sink.is_dir() and DeltaTable(str(sink)).version() >= 1, "the first batch")
        for index in range(6, 9):  # one version (one file) per micro-batch from here on
            lake.sql(f"INSERT INTO reviews VALUES ({index}, 'more')")
        _wait(lambda: DeltaTable(str(sink)).version() >= 2, "a later batch")
    finally:
        _kill(driver)  # whatever the stream was doing, mid-batch or between batches
    lake.sql("INSERT INTO reviews VALUES (9, 'after'), (10, 'after')")
    _finish(_driver(cluster, home, *args, "once"))
    assert _ids(sink) == list(range(1, 11))
