"""Real job runs (each task in its own process): dependency order, retries with backoff,
timeouts, skipped dependants, concurrency limits and the run history tables."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.pipelines.job_runner import JobRunner
from lakeinfer.pipelines.jobs import load_job

FLAKY = """\
import sys
from pathlib import Path

counter = Path(sys.argv[1])
attempts = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(attempts))
if attempts == 1:
    raise SystemExit(3)
"""

STEPS = """\
def final(session, day, note="none"):
    session.sql(f"INSERT INTO steps VALUES ('final {day} {note}')")
"""

JOB = """\
name: dag
parameters: {day: monday}
tasks:
  - task_key: ingest
    sql: "CREATE TABLE steps (step STRING); INSERT INTO steps VALUES ('ingest {{day}}')"
  - task_key: flaky
    depends_on: [ingest]
    python_script: flaky.py
    parameters: ["{{job.parameters.day}}.count"]
    max_retries: 2
    min_retry_interval_millis: 200
  - task_key: slow
    depends_on: [ingest]
    python_script: slow.py
    timeout_seconds: 1
  - task_key: after_slow
    depends_on: [slow]
    sql: "INSERT INTO steps VALUES ('after slow')"
  - task_key: final
    depends_on: [flaky]
    python_function: "steps:final"
    parameters: {note: done}
"""


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "flaky.py").write_text(FLAKY)
    (folder / "slow.py").write_text("import time\ntime.sleep(60)\n")
    (folder / "steps.py").write_text(STEPS)
    (folder / "dag.yml").write_text(JOB)
    return folder


def test_a_run_follows_the_dag_retries_times_out_and_skips_dependants(job_dir, home):
    sleeps: list[float] = []
    runner = JobRunner(home, sleep=sleeps.append)
    started = time.monotonic()
    run = runner.run(load_job(job_dir / "dag.yml"), {"day": "tuesday"})
    assert time.monotonic() - started < 30  # the 60 s task was stopped after 1 s
    assert [(a.task_key, a.attempt, a.status) for a in run.attempts] == [
        ("ingest", 0, "SUCCEEDED"),
        ("flaky", 0, "FAILED"),
        ("flaky", 1, "SUCCEEDED"),
        ("slow", 0, "TIMED_OUT"),
        ("after_slow", 0, "SKIPPED"),
        ("final", 0, "SUCCEEDED"),
    ]
    assert sleeps == [0.2]  # one retry after min_retry_interval_millis
    assert run.attempts[1].error == "script exited with status 3"
    assert run.attempts[4].error == "upstream task slow timed out"
    assert run.status == "TIMED_OUT" and run.error.startswith("task slow timed out: still")
    assert (job_dir / "tuesday.count").read_text() == "2"
    with lakeinfer.connect(home, progress=False) as session:
        assert session.sql("SELECT step FROM steps ORDER BY step").to_pylist() == [
            {"step": "final tuesday done"},
            {"step": "ingest tuesday"},
        ]
        runs = session.sql(
            "SELECT job_name, trigger, status, parameters FROM system.lakeflow.job_runs"
        ).to_pylist()
        tasks = session.sql(
            "SELECT task_key, attempt, status, error IS NULL AS ok, depends_on "
            "FROM system.lakeflow.job_task_runs ORDER BY started_at, attempt"
        ).to_pylist()
    assert runs == [
        {
            "job_name": "dag",
            "trigger": "manual",
            "status": "TIMED_OUT",
            "parameters": '{"day": "tuesday"}',
        }
    ]
    assert [(t["task_key"], t["attempt"], t["status"], t["ok"]) for t in tasks] == [
        ("ingest", 0, "SUCCEEDED", True),
        ("flaky", 0, "FAILED", False),
        ("flaky", 1, "SUCCEEDED", True),
        ("slow", 0, "TIMED_OUT", False),
        ("after_slow", 0, "SKIPPED", False),
        ("final", 0, "SUCCEEDED", True),
    ]
    assert tasks[-1]["depends_on"] == ["flaky"]


def test_job_timeout_stops_the_running_task_and_skips_the_rest(job_dir, home):
    (job_dir / "slowjob.yml").write_text(
        "name: slowjob\ntimeout_seconds: 1\ntasks:\n"
        "  - {task_key: slow, python_script: slow.py}\n"
        "  - {task_key: later, sql: SELECT 1}\n"
    )
    run = JobRunner(home).run(load_job(job_dir / "slowjob.yml"))
    assert [(a.task_key, a.status) for a in run.attempts] == [
        ("slow", "TIMED_OUT"),
        ("later", "SKIPPED"),
    ]
    assert run.attempts[1].error == "the job's timeout_seconds ran out"


def test_max_concurrent_runs_skips_the_extra_run(job_dir, home):
    (job_dir / "single.yml").write_text(
        "name: single\nmax_concurrent_runs: 1\ntasks:\n  - {task_key: nap, python_script: nap.py}\n"
    )
    (job_dir / "nap.py").write_text("import time\ntime.sleep(1.5)\n")
    job = load_job(job_dir / "single.yml")
    runner = JobRunner(home)
    results = []
    first = threading.Thread(target=lambda: results.append(runner.run(job)))
    first.start()
    deadline = time.monotonic() + 20
    while not any((home / "_jobs" / "active" / "single").glob("*")):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = runner.run(job, trigger="schedule")
    first.join()
    assert second.status == "SKIPPED" and "max_concurrent_runs (1)" in second.error
    assert second.attempts == []
    assert results[0].status == "SUCCEEDED"
    with lakeinfer.connect(home, progress=False) as session:
        rows = session.sql(
            "SELECT trigger, status FROM system.lakeflow.job_runs ORDER BY status"
        ).to_pylist()
    assert rows == [
        {"trigger": "schedule", "status": "SKIPPED"},
        {"trigger": "manual", "status": "SUCCEEDED"},
    ]


def test_unknown_parameter_override_is_refused(job_dir, home):
    from lakeinfer.pipelines.errors import JobConfigError

    with pytest.raises(JobConfigError, match="job 'dag' has no parameter 'dya'"):
        JobRunner(home).run(load_job(job_dir / "dag.yml"), {"dya": "x"})


def test_a_due_scheduled_job_runs_in_its_own_thread_and_is_recorded(job_dir, home):
    import datetime as dt

    from lakeinfer.pipelines.scheduler import JobScheduler, in_thread

    (job_dir / "tick.yml").write_text(
        "name: tick\nschedule: {cron: '0 10 * * *'}\n"
        "tasks: [{task_key: a, sql: 'CREATE TABLE ticked AS SELECT 1 AS x'}]\n"
    )
    now = [dt.datetime(2026, 1, 1, 9, 59, 59, tzinfo=dt.UTC)]
    runner = JobRunner(home)
    stop = threading.Event()
    launch = in_thread(runner.run_scheduled)

    def launch_and_stop(job):
        launch(job)
        stop.set()

    scheduler = JobScheduler([load_job(job_dir / "tick.yml")], launch_and_stop, lambda: now[0])
    now[0] = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
    scheduler.serve(stop)  # returns once the due job was launched
    for thread in threading.enumerate():
        if thread.name == "lakeinfer-job-tick":
            thread.join(timeout=60)
    with lakeinfer.connect(home, progress=False) as session:
        rows = session.sql("SELECT trigger, status FROM system.lakeflow.job_runs").to_pylist()
        assert session.sql("SELECT x FROM ticked").to_pylist() == [{"x": 1}]
    assert rows == [{"trigger": "schedule", "status": "SUCCEEDED"}]
    assert scheduler.next_runs["tick"] == dt.datetime(2026, 1, 2, 10, 0, tzinfo=dt.UTC)
