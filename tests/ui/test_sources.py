"""The panels' sources: job runs, stream checkpoints and report files in a lakehouse."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from pathlib import Path

import pyarrow as pa
import pytest

from lakeinfer.catalog.delta_catalog import DeltaCatalog
from lakeinfer.ui import sources


def _at(minute: int) -> dt.datetime:
    return dt.datetime(2026, 1, 1, 12, minute, tzinfo=dt.UTC)


def test_job_runs_newest_first_and_tasks_of_one_run(tmp_path: Path):
    catalog = DeltaCatalog(tmp_path)
    assert sources.job_runs(catalog) == [] and sources.task_runs(catalog, "a") == []
    catalog.create_schema("system", "lakeflow", if_not_exists=True)
    when = pa.timestamp("us", tz="UTC")
    catalog.write(
        sources.JOB_RUNS_TABLE,
        pa.table({"run_id": ["a", "b"], "started_at": pa.array([_at(1), _at(2)], when)}),
        "append",
    )
    catalog.write(
        sources.TASK_RUNS_TABLE,
        pa.table(
            {
                "run_id": ["a", "b", "a"],
                "task_key": ["second", "other", "first"],
                "started_at": pa.array([_at(5), _at(1), _at(3)], when),
            }
        ),
        "append",
    )
    assert [r["run_id"] for r in sources.job_runs(catalog)] == ["b", "a"]
    tasks = sources.task_runs(catalog, "a")
    assert [t["task_key"] for t in tasks] == ["first", "second"]
    assert tasks[0]["started_at"] == "2026-01-01T12:03:00+00:00"


def test_streams_are_found_by_their_checkpoints(tmp_path: Path):
    catalog = DeltaCatalog(tmp_path)
    assert sources.streams(catalog) == []
    (tmp_path / "_checkpoints" / "main" / "default" / "enriched").mkdir(parents=True)
    rows = sources.streams(catalog)
    assert [r["target"] for r in rows] == ["main.default.enriched"]
    assert rows[0]["status"]  # what is known without the pipelines' reader, or its error
    assert rows[0]["running"] is False


@pytest.mark.skipif(not sources.PROC_LOCKS.exists(), reason="needs Linux's /proc/locks")
def test_a_stream_runs_while_its_checkpoint_lock_is_held(tmp_path: Path):
    checkpoint = tmp_path / "_checkpoints" / "main" / "default" / "t"
    checkpoint.mkdir(parents=True)
    assert sources.stream_running(checkpoint) is False
    descriptor = os.open(checkpoint / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        assert sources.stream_running(checkpoint) is False  # the file alone is not a stream
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running stream holds it
        assert sources.stream_running(checkpoint) is True
        assert sources.streams(DeltaCatalog(tmp_path))[0]["running"] is True
    finally:
        os.close(descriptor)
    assert sources.stream_running(checkpoint) is False
    assert sources.stream_running(checkpoint, tmp_path / "no-such-table") is None


def test_reports_are_listed_with_title_and_kind_and_served_only_from_their_folders(
    tmp_path: Path,
):
    folder, elsewhere = tmp_path / "reports", tmp_path / "private"
    (folder / "nested").mkdir(parents=True)
    elsewhere.mkdir()
    (folder / "eval_sentiment.html").write_text("<title>Sentiment</title>")
    (folder / "nested" / "run.html").write_text("<TITLE>Benchmark: p99</TITLE>")
    (folder / "notes.txt").write_text("not a report")
    secret = elsewhere / "secret.html"
    secret.write_text("<title>secret</title>")
    found = sources.reports([folder, tmp_path / "missing"])
    assert sorted((r["title"], r["kind"]) for r in found) == [
        ("Benchmark: p99", "benchmark"),
        ("Sentiment", "evaluation"),
    ]
    ident = found[0]["id"]
    assert sources.report_path([folder], ident) is not None
    assert sources.report_path([folder], sources.report_id(secret)) is None
