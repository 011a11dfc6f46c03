"""Job files: parsing, errors with field and line, dependency order, cron next runs and the
scheduler's ticks (on a fake clock)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lakeinfer.pipelines.errors import JobConfigError
from lakeinfer.pipelines.jobs import Schedule, load_job, load_jobs, parse_job, substitute
from lakeinfer.pipelines.scheduler import JobScheduler

GOOD = """\
name: nightly
parameters: {day: "2024-05-01"}
schedule: {cron: "30 2 * * 1-5", timezone: Europe/Paris}
max_concurrent_runs: 2
tasks:
  - task_key: report
    depends_on: [{task_key: clean}, infer]
    python_function: reports:build
  - task_key: infer
    depends_on: [clean]
    stream: {query: "SELECT * FROM STREAM(t)", target: out, checkpoint: ckpt}
  - task_key: clean
    sql: "DELETE FROM t WHERE day < '{{job.parameters.day}}'"
    max_retries: 2
    min_retry_interval_millis: 100
    timeout_seconds: 60
"""


def test_a_job_file_parses_with_its_dependency_order(tmp_path):
    path = tmp_path / "nightly.yml"
    path.write_text(GOOD)
    job = load_job(path)
    assert [t.task_key for t in job.order()] == ["clean", "infer", "report"]
    assert job.task("report").depends_on == ["clean", "infer"]
    assert [t.kind for t in job.tasks] == ["python_function", "stream", "sql"]
    assert job.base_dir == tmp_path and job.max_concurrent_runs == 2
    assert substitute(job.task("clean").sql, job.parameters, "clean") == (
        "DELETE FROM t WHERE day < '2024-05-01'"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("max_retries: 2", "max_retries: -2"),
            "line 14: tasks\\[clean\\].max_retries: Input should",
        ),
        (
            ("timeout_seconds: 60", "timeout: 60"),
            "line 16: tasks\\[clean\\].timeout: unknown field",
        ),
        (
            ("30 2 * * 1-5", "30 25 * * *"),
            "line 3: schedule.cron: '30 25 \\* \\* \\*' is not a cron",
        ),
        (("Europe/Paris", "Europe/Pariss"), "line 3: schedule.timezone: unknown time zone"),
        (("[clean]", "[clen]"), "line 10: tasks\\[infer\\].depends_on: unknown task 'clen'; did"),
        (("reports:build", "reports.build"), "line 8: tasks\\[report\\].python_function: use"),
        (('    sql: "DELETE', '    python_script: x.py\n    sql: "DELETE'), "exactly one of"),
        (("task_key: infer", "task_key: report"), "task_key 'report' is used twice"),
        (("name: nightly\n", ""), "line 1: name: Field required"),
        (("{day:", "[day:"), "invalid YAML"),
        (("- task_key: clean", "- task_key: clean\n    depends_on: [report]"), "in a cycle"),
    ],
)
def test_malformed_job_files_name_the_field_and_line(change, message):
    with pytest.raises(JobConfigError, match=message) as error:
        parse_job(GOOD.replace(*change), Path("jobs/nightly.yml"))
    assert str(error.value).startswith("jobs/nightly.yml:")


def test_unknown_parameter_is_named():
    with pytest.raises(JobConfigError, match="task clean: unknown parameter 'dya'"):
        substitute("WHERE day = '{{dya}}'", {"day": 1}, "task clean")


def test_a_job_file_that_is_not_utf8_is_named_with_the_byte(tmp_path):
    path = tmp_path / "job.yml"
    path.write_bytes(GOOD.replace("nightly", "caf\u00e9").encode("latin-1"))
    with pytest.raises(JobConfigError) as error:
        load_job(path)
    assert (
        str(error.value) == f"cannot read job file {path}: not UTF-8 text (byte 0xe9 at offset 9)"
    )


def test_cron_next_run_in_the_schedule_time_zone():
    weekdays = Schedule(cron="30 2 * * 1-5", timezone="Europe/Paris")
    friday_noon = dt.datetime(2026, 3, 27, 12, 0, tzinfo=dt.UTC)
    assert weekdays.next_run(friday_noon) == dt.datetime(
        2026, 3, 30, 2, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )  # Monday, after the switch to summer time
    hourly = Schedule(cron="15 * * * *")
    at = dt.datetime(2026, 1, 1, 10, 15, tzinfo=dt.UTC)
    assert hourly.next_run(at) == dt.datetime(2026, 1, 1, 11, 15, tzinfo=dt.UTC)  # strictly after
    assert hourly.next_run(at - dt.timedelta(seconds=1)) == at


class FakeClock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_scheduler_starts_due_jobs_once_and_skips_paused_ones(tmp_path):
    for name, cron, paused in (
        ("every5", "*/5 * * * *", "UNPAUSED"),
        ("hourly", "0 * * * *", "UNPAUSED"),
        ("paused", "* * * * *", "PAUSED"),
    ):
        (tmp_path / f"{name}.yml").write_text(
            f"name: {name}\nschedule: {{cron: '{cron}', pause_status: {paused}}}\n"
            "tasks: [{task_key: a, sql: SELECT 1}]\n"
        )
    (tmp_path / "manual.yaml").write_text("name: manual\ntasks: [{task_key: a, sql: SELECT 1}]\n")
    clock = FakeClock(dt.datetime(2026, 1, 1, 9, 58, tzinfo=dt.UTC))
    started: list[str] = []
    scheduler = JobScheduler(load_jobs(tmp_path), lambda job: started.append(job.name), clock)
    assert sorted(scheduler.next_runs) == ["every5", "hourly"]
    assert scheduler.seconds_to_next() == 120
    assert scheduler.tick() == [] and started == []
    clock.now = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
    scheduler.tick()
    assert started == ["every5", "hourly"]
    scheduler.tick()  # same minute: nothing again
    clock.now = dt.datetime(2026, 1, 1, 10, 31, tzinfo=dt.UTC)  # fell behind: one run, not six
    scheduler.tick()
    assert started == ["every5", "hourly", "every5"]
    assert scheduler.next_runs["every5"] == dt.datetime(2026, 1, 1, 10, 35, tzinfo=dt.UTC)


def test_two_job_files_with_one_name_are_refused(tmp_path):
    for file in ("a.yml", "b.yml"):
        (tmp_path / file).write_text("name: same\ntasks: [{task_key: a, sql: SELECT 1}]\n")
    with pytest.raises(JobConfigError, match="job name 'same' is used by"):
        load_jobs(tmp_path)
