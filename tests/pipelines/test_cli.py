"""`lakeinfer stream ...` and `lakeinfer jobs ...`, run as real processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.pipelines.errors import StreamingError
from lakeinfer.pipelines.status import stream_status
from tests.conftest import configure
from tests.test_cli import run


def test_stream_run_and_status(home, fake_server, tmp_path):
    configure(home, fake_server, chat={"max_retries": 0})
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE docs (id INT, text STRING)")
        session.sql("INSERT INTO docs VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    checkpoint = str(tmp_path / "ckpt")
    result = run(
        home,
        "stream",
        "run",
        "--query",
        "SELECT id, ai_query('chat', text) AS answer FROM STREAM(docs)",
        "--target",
        "answers",
        "--checkpoint",
        checkpoint,
        "--option",
        "maxRowsPerTrigger=2",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    batches = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(b["batch_id"], b["input_rows"], b["ai_calls"]) for b in batches] == [
        (0, 2, 2),
        (1, 1, 1),
    ]
    assert "batch 1: 1 rows in, 1 out, 1 AI calls" in result.stderr
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("INSERT INTO docs VALUES (4, 'd')")
    status = run(home, "stream", "status", "--checkpoint", checkpoint, "--format", "json")
    assert status.returncode == 0, status.stderr
    row = json.loads(status.stdout)
    assert row["sink"] == "main.default.answers" and row["batches_committed"] == 2
    assert (row["rows_written"], row["lag_rows"], row["lag_versions"]) == (3, 1, 1)
    with lakeinfer.connect(home, progress=False) as session:
        with pytest.raises(StreamingError, match="no stream checkpoint at"):
            stream_status(session.catalog, str(tmp_path / "nothing"))


def test_jobs_list_run_and_runs(home, tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "nightly.yml").write_text(
        "name: nightly\nschedule: {cron: '0 2 * * *', timezone: Europe/Paris}\n"
        "tasks:\n  - {task_key: make, sql: 'CREATE TABLE t AS SELECT 1 AS x'}\n"
        "  - {task_key: broken, depends_on: [make], sql: 'SELECT * FROM missing'}\n"
        "  - {task_key: after, depends_on: [broken], sql: 'SELECT 1'}\n"
    )
    listed = run(home, "jobs", "list", str(jobs), "--format", "json")
    assert listed.returncode == 0, listed.stderr
    (job,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert job["job"] == "nightly" and job["next_run"].endswith(("T02:00:00+01:00", "+02:00"))

    result = run(home, "jobs", "run", str(jobs / "nightly.yml"), "--format", "json")
    assert result.returncode == 1
    tasks = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(t["task_key"], t["status"]) for t in tasks] == [
        ("make", "SUCCEEDED"),
        ("broken", "FAILED"),
        ("after", "SKIPPED"),
    ]
    assert "table or view not found: main.default.missing" in tasks[1]["error"]

    runs = run(home, "jobs", "runs", "--format", "json")
    (latest,) = [json.loads(line) for line in runs.stdout.splitlines()]
    assert latest["status"] == "FAILED" and latest["job_name"] == "nightly"
    with lakeinfer.connect(home, progress=False) as session:
        statuses = session.sql(
            "SELECT status FROM system.lakeflow.job_task_runs "
            f"WHERE run_id = '{latest['run_id']}' ORDER BY started_at"
        ).to_pylist()
    assert [s["status"] for s in statuses] == ["SUCCEEDED", "FAILED", "SKIPPED"]


def test_a_malformed_job_file_is_one_line_naming_field_and_line(home, tmp_path):
    path: Path = tmp_path / "bad.yml"
    path.write_text("name: bad\ntasks:\n  - task_key: a\n    sql: SELECT 1\n    retries: 3\n")
    result = run(home, "jobs", "run", str(path))
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {path}: line 5: tasks[a].retries: unknown field"


def test_stream_run_keeps_its_checkpoint_in_the_lakehouse(home, fake_server):
    configure(home, fake_server, chat={"max_retries": 0})
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE docs (id INT, text STRING)")
        session.sql("INSERT INTO docs VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    query = "SELECT id, ai_query('chat', text) AS answer FROM STREAM(docs)"
    result = run(home, "stream", "run", "--query", query, "--target", "answers")
    assert result.returncode == 0, result.stderr
    folder = home / "_checkpoints" / "main" / "default" / "answers" / "main.default.docs"
    for args in ((), ("--target", "main.default.answers")):
        status = run(home, "stream", "status", *args, "--format", "json")
        assert status.returncode == 0, status.stderr
        (row,) = [json.loads(line) for line in status.stdout.splitlines()]
        assert (row["checkpoint"], row["rows_written"]) == (str(folder), 3)
    missing = run(home, "stream", "status", "--target", "other")
    assert missing.returncode == 1
    assert "no stream checkpoint into other" in missing.stderr
