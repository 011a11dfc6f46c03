"""Runs a job: tasks in dependency order, each in its own process, with retries, timeouts and
a run history in Delta tables.

Task outcomes: ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT`` (its process is killed), ``SKIPPED``
(an upstream task did not succeed, or the job's time ran out). A failed attempt is retried up to
``max_retries`` times after ``min_retry_interval_millis``, doubled after each attempt (a timed
out one only with ``retry_on_timeout``). The job succeeds when every task does.

History, queryable with SQL: ``system.lakeflow.job_runs`` (one row per run) and
``system.lakeflow.job_task_runs`` (one row per task attempt, skipped tasks included), with
status, times, duration and error. A run over ``max_concurrent_runs`` is recorded as
``SKIPPED`` without running anything. Task output goes to ``<home>/_jobs/logs/<run_id>/``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakeinfer.catalog.delta_catalog import DeltaCatalog, TableName
from lakeinfer.pipelines.jobs import Job, Task
from lakeinfer.pipelines.task_process import child_main

JOB_RUNS = TableName("system", "lakeflow", "job_runs")
TASK_RUNS = TableName("system", "lakeflow", "job_task_runs")
_TIME = pa.timestamp("us", tz="UTC")
JOB_RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("job_name", pa.string()),
        ("job_file", pa.string()),
        ("trigger", pa.string()),
        ("status", pa.string()),
        ("started_at", _TIME),
        ("ended_at", _TIME),
        ("duration_s", pa.float64()),
        ("error", pa.string()),
        ("parameters", pa.string()),
    ]
)
TASK_RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("job_name", pa.string()),
        ("task_key", pa.string()),
        ("attempt", pa.int32()),
        ("status", pa.string()),
        ("started_at", _TIME),
        ("ended_at", _TIME),
        ("duration_s", pa.float64()),
        ("error", pa.string()),
        ("depends_on", pa.list_(pa.string())),
        ("log_file", pa.string()),
    ]
)
STOP_GRACE_S = 2.0


@dataclass
class TaskAttempt:
    """One attempt of one task (``attempt`` counts from 0; skipped tasks have one)."""

    task_key: str
    attempt: int
    status: str
    started_at: dt.datetime
    ended_at: dt.datetime
    error: str | None = None
    log_file: str | None = None


@dataclass
class JobRun:
    """The outcome of one run of a job."""

    run_id: str
    job: Job
    trigger: str
    parameters: dict[str, Any]
    started_at: dt.datetime
    status: str = "RUNNING"
    ended_at: dt.datetime | None = None
    error: str | None = None
    attempts: list[TaskAttempt] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "SUCCEEDED"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobRunner:
    """Runs jobs against one lakehouse. ``sleep`` waits between retries (tests pass a fake)."""

    def __init__(
        self,
        home: Path,
        *,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] | None = None,
    ):
        self.home = Path(home)
        self.catalog = DeltaCatalog(self.home)
        self.sleep = sleep
        self.say = say or (lambda message: None)

    # -- a run ---------------------------------------------------------------------------
    def run(
        self, job: Job, overrides: dict[str, Any] | None = None, trigger: str = "manual"
    ) -> JobRun:
        """Run ``job`` once, now; the run is recorded whatever its outcome."""
        unknown = sorted(set(overrides or {}) - set(job.parameters))
        if unknown:
            from lakeinfer.pipelines.errors import JobConfigError

            raise JobConfigError(
                f"job {job.name!r} has no parameter {unknown[0]!r} "
                f"(parameters: {', '.join(sorted(job.parameters)) or 'none'})"
            )
        parameters = {**job.parameters, **(overrides or {})}
        run = JobRun(uuid.uuid4().hex[:16], job, trigger, parameters, _now())
        if not self._admit(job, run.run_id):
            run.status, run.ended_at = "SKIPPED", _now()
            run.error = f"max_concurrent_runs ({job.max_concurrent_runs}) reached"
            self._record(run)
            return run
        try:
            self._run_tasks(run)
        finally:
            self._release(job, run.run_id)
            run.ended_at = _now()
            self._record(run)
        return run

    def run_scheduled(self, job: Job) -> JobRun | None:
        """A run started by the schedule (for ``jobs serve``); errors are reported, not raised,
        so the scheduler goes on with its other jobs."""
        try:
            run = self.run(job, trigger="schedule")
        except Exception as exc:
            self.say(f"job {job.name}: could not run: {exc}")
            return None
        self.say(f"job {job.name} run {run.run_id}: {run.status}")
        return run

    def _run_tasks(self, run: JobRun) -> None:
        job = run.job
        deadline = time.monotonic() + job.timeout_seconds if job.timeout_seconds else None
        final: dict[str, str] = {}
        for task in job.order():
            blocked = [d for d in task.depends_on if final.get(d) != "SUCCEEDED"]
            if blocked:
                final[task.task_key] = self._skip(
                    run, task, f"upstream task {blocked[0]} {_said(final[blocked[0]])}"
                )
                continue
            if deadline is not None and time.monotonic() >= deadline:
                final[task.task_key] = self._skip(run, task, "the job's timeout_seconds ran out")
                continue
            final[task.task_key] = self._run_with_retries(run, task, deadline)
        failed = [k for k, s in final.items() if s != "SUCCEEDED"]
        if not failed:
            run.status = "SUCCEEDED"
            return
        first = next(a for a in run.attempts if a.task_key == failed[0] and a.status != "SKIPPED")
        run.status = "TIMED_OUT" if first.status == "TIMED_OUT" else "FAILED"
        run.error = f"task {first.task_key} {_said(first.status)}: {first.error}"

    def _skip(self, run: JobRun, task: Task, why: str) -> str:
        now = _now()
        run.attempts.append(TaskAttempt(task.task_key, 0, "SKIPPED", now, now, why))
        self.say(f"{task.task_key}: skipped ({why})")
        return "SKIPPED"

    def _run_with_retries(self, run: JobRun, task: Task, deadline: float | None) -> str:
        attempt = 0
        while True:
            timeout = task.timeout_seconds
            if deadline is not None:
                remaining = max(deadline - time.monotonic(), 0.001)
                timeout = remaining if timeout is None else min(timeout, remaining)
            result = self._attempt(run, task, attempt, timeout)
            run.attempts.append(result)
            self.say(
                f"{task.task_key}: {result.status.lower()}"
                + (f" (attempt {attempt + 1})" if attempt else "")
                + (f": {result.error}" if result.error else "")
            )
            if result.status == "SUCCEEDED":
                return "SUCCEEDED"
            retryable = result.status == "FAILED" or task.retry_on_timeout
            if attempt >= task.max_retries or not retryable:
                return result.status
            delay = task.min_retry_interval_millis / 1000 * 2**attempt
            if deadline is not None and time.monotonic() + delay >= deadline:
                return result.status
            self.sleep(delay)
            attempt += 1

    def _attempt(self, run: JobRun, task: Task, attempt: int, timeout: float | None) -> TaskAttempt:
        logs = self.home / "_jobs" / "logs" / run.run_id
        logs.mkdir(parents=True, exist_ok=True)
        log_file = logs / f"{task.task_key}-{attempt}.log"
        spec = {
            "home": str(self.home.absolute()),  # the task runs in the job's folder
            "task": task.model_dump(mode="json"),
            "parameters": run.parameters,
            "base_dir": str(run.job.base_dir),
        }
        started = _now()
        process = _context().Process(
            target=child_main, args=(spec, str(log_file)), name=f"lakeinfer-task-{task.task_key}"
        )
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            _stop_group(process)
            return TaskAttempt(
                task.task_key,
                attempt,
                "TIMED_OUT",
                started,
                _now(),
                f"still running after {timeout:g}s; stopped",
                str(log_file),
            )
        code = process.exitcode
        process.close()
        status = "SUCCEEDED" if code == 0 else "FAILED"
        error = None if code == 0 else _error_line(log_file, code)
        return TaskAttempt(task.task_key, attempt, status, started, _now(), error, str(log_file))

    # -- concurrency -------------------------------------------------------------------------
    def _active_dir(self, job: Job) -> Path:
        return self.home / "_jobs" / "active" / job.name

    def _admit(self, job: Job, run_id: str) -> bool:
        """Count this run in, unless ``max_concurrent_runs`` runs of the job are active."""
        folder = self._active_dir(job)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder.parent / f"{job.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            active = 0
            for entry in folder.iterdir():
                try:
                    pid = int(entry.read_text())
                except (OSError, ValueError):
                    continue
                if _alive(pid):
                    active += 1
                else:
                    entry.unlink(missing_ok=True)  # a run whose process died
            if active >= job.max_concurrent_runs:
                return False
            (folder / run_id).write_text(str(os.getpid()))
            return True

    def _release(self, job: Job, run_id: str) -> None:
        (self._active_dir(job) / run_id).unlink(missing_ok=True)

    # -- history ---------------------------------------------------------------------------
    def _record(self, run: JobRun) -> None:
        assert run.ended_at is not None
        self.catalog.create_schema(JOB_RUNS.catalog, JOB_RUNS.schema, if_not_exists=True)
        job_row = {
            "run_id": run.run_id,
            "job_name": run.job.name,
            "job_file": str(run.job.path) if run.job.path else None,
            "trigger": run.trigger,
            "status": run.status,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "duration_s": (run.ended_at - run.started_at).total_seconds(),
            "error": run.error,
            "parameters": json.dumps(run.parameters, default=str),
        }
        task_rows = [
            {
                "run_id": run.run_id,
                "job_name": run.job.name,
                "task_key": a.task_key,
                "attempt": a.attempt,
                "status": a.status,
                "started_at": a.started_at,
                "ended_at": a.ended_at,
                "duration_s": (a.ended_at - a.started_at).total_seconds(),
                "error": a.error,
                "depends_on": run.job.task(a.task_key).depends_on,
                "log_file": a.log_file,
            }
            for a in run.attempts
        ]
        if task_rows:
            self.catalog.write(
                TASK_RUNS, pa.Table.from_pylist(task_rows, schema=TASK_RUNS_SCHEMA), "append"
            )
        self.catalog.write(
            JOB_RUNS, pa.Table.from_pylist([job_row], schema=JOB_RUNS_SCHEMA), "append"
        )


def _said(status: str) -> str:
    return status.lower().replace("_", " ")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_group(process: multiprocessing.process.BaseProcess) -> None:
    """SIGTERM the task's process group, then SIGKILL what is left after a grace period."""
    assert process.pid is not None
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        process.join(wait)
        if process.exitcode is not None:
            break
    process.join()


_CONTEXT: multiprocessing.context.BaseContext | None = None


def _context() -> multiprocessing.context.BaseContext:
    """A fork server that imports lakeinfer once; tasks are forked from it (a clean,
    single-threaded process), not from this one (which may run threads)."""
    global _CONTEXT
    if _CONTEXT is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["lakeinfer.pipelines.task_process", "lakeinfer.session"])
        _CONTEXT = context
    return _CONTEXT


def _error_line(log_file: Path, code: int) -> str:
    lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    return lines[-1] if lines else f"exited with status {code}"
