"""``lakeinfer jobs serve DIR``: runs the scheduled jobs of a directory when they are due.

Next run times come from each job's cron expression in its time zone (croniter). A due job
starts in its own thread, so a long run does not delay other jobs; ``max_concurrent_runs`` is
enforced by the runner (a run over the limit is recorded as ``SKIPPED``). Runs missed while the
scheduler was not running are not made up; when it falls behind, a job runs once, not once per
missed time. Paused schedules (``pause_status: PAUSED``) and jobs without a schedule are listed
but never started.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from lakeinfer.pipelines.jobs import Job

MAX_WAIT_S = 30.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobScheduler:
    """Keeps each scheduled job's next run time and starts it when due.

    ``launch(job)`` runs one job (default: in a new thread). ``clock`` gives the aware current
    time (tests pass a fake one)."""

    def __init__(
        self,
        jobs: list[Job],
        launch: Callable[[Job], None],
        clock: Callable[[], dt.datetime] = _now,
    ):
        self.jobs = [j for j in jobs if j.schedule and j.schedule.pause_status == "UNPAUSED"]
        self.launch = launch
        self.clock = clock
        now = clock()
        self.next_runs: dict[str, dt.datetime] = {
            j.name: j.schedule.next_run(now)
            for j in self.jobs
            if j.schedule  # for the type checker
        }

    def tick(self) -> list[Job]:
        """Start every job that is due now; returns them."""
        now = self.clock()
        started = []
        for job in self.jobs:
            assert job.schedule is not None
            if self.next_runs[job.name] <= now:
                self.next_runs[job.name] = job.schedule.next_run(now)
                self.launch(job)
                started.append(job)
        return started

    def seconds_to_next(self) -> float:
        if not self.next_runs:
            return MAX_WAIT_S
        soonest = min(self.next_runs.values())
        return max(0.0, (soonest - self.clock()).total_seconds())

    def serve(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set (checked at least every 30 seconds)."""
        while not stop.is_set():
            self.tick()
            stop.wait(min(self.seconds_to_next(), MAX_WAIT_S) or 0.01)


def in_thread(run: Callable[[Job], object]) -> Callable[[Job], None]:
    """A launcher that runs each job in its own (non-daemon) thread."""

    def launch(job: Job) -> None:
        threading.Thread(target=run, args=(job,), name=f"lakeinfer-job-{job.name}").start()

    return launch
