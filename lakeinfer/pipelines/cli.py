"""``lakeinfer stream ...`` and ``lakeinfer jobs ...`` commands."""

from __future__ import annotations

import json
import signal
from typing import Any

import click

from lakeinfer.cli.common import emit, format_option, friendly_errors, open_session, say
from lakeinfer.pipelines.errors import JobError, StreamingError


@click.group()
def stream() -> None:
    """Incremental inference: read new rows of a Delta table, write answers exactly once.

    \b
    Example:
      lakeinfer stream run --target main.default.summaries \\
          --query "SELECT id, ai_query('my-llm', 'Summarize: ' || text) AS summary
                   FROM STREAM(main.default.docs)" --option maxBytesPerTrigger=50K
      lakeinfer stream status --target main.default.summaries

    The checkpoint is kept in the lakehouse, under
    <home>/_checkpoints/<catalog>/<schema>/<table>/<source table>, unless --checkpoint names
    a folder.
    """


@stream.command("run")
@click.option("--query", required=True, help="SELECT ... FROM STREAM(catalog.schema.table) ...")
@click.option("--target", required=True, help="Delta table the answers are appended to.")
@click.option(
    "--checkpoint",
    help="Checkpoint directory of this stream (default: in the lakehouse, under "
    "_checkpoints/<target>/<source>).",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Reader option: maxFilesPerTrigger, maxBytesPerTrigger, maxRowsPerTrigger, "
    "skipChangeCommits.",
)
@click.option(
    "--processing-time",
    help="Run a batch every interval (e.g. '10 seconds') until interrupted; default: process "
    "what is available now, then exit.",
)
@format_option()
@click.pass_obj
@friendly_errors
def stream_run(
    ctx: Any,
    query: str,
    target: str,
    checkpoint: str | None,
    options: tuple[str, ...],
    processing_time: str | None,
    fmt: str,
) -> None:
    """Run a stream: one batch per trigger, then print one row per batch."""
    import pyarrow as pa

    from lakeinfer.catalog.delta_catalog import DeltaCatalog
    from lakeinfer.errors import AnalysisError
    from lakeinfer.pipelines.batch import streamed_table
    from lakeinfer.pipelines.execution import StreamSpec, check_options
    from lakeinfer.pipelines.locations import explicit_checkpoint, stream_checkpoint
    from lakeinfer.pipelines.streaming import StreamingQuery, Trigger, parse_interval
    from lakeinfer.sql.parse import parse_statements

    reader_options = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--option")
        reader_options[key.strip()] = value.strip()
    limits, skip = check_options(reader_options)
    statements = parse_statements(query)
    if len(statements) != 1:
        raise AnalysisError("--query takes one SELECT ... FROM STREAM(table)")
    tree, table = streamed_table(statements[0])
    with open_session(ctx) as session:
        source = DeltaCatalog.qualify([p.name for p in table.parts], session.namespace)
        sink = DeltaCatalog.qualify(target.split("."), session.namespace)
        if checkpoint is not None:
            location = explicit_checkpoint(checkpoint)
        else:
            location = stream_checkpoint(session.catalog.home, sink, source)
        spec = StreamSpec(source, sink, tree, str(location), limits, skip)
        if processing_time is None:
            running = StreamingQuery(session, spec, Trigger.AVAILABLE_NOW, 0.0)
        else:
            interval = parse_interval(processing_time)
            running = StreamingQuery(session, spec, Trigger.PROCESSING_TIME, interval)
        previous = signal.signal(signal.SIGTERM, lambda *_: running._stop.set())
        running.start()
        seen = 0
        try:
            while not running.awaitTermination(0.2):
                seen = _report(ctx, running.recentProgress, seen)
        except KeyboardInterrupt:
            running.stop()
        finally:
            signal.signal(signal.SIGTERM, previous)
        _report(ctx, running.recentProgress, seen)
        running.awaitTermination()
        rows = [
            {
                "batch_id": p["batchId"],
                "input_rows": p["numInputRows"],
                "output_rows": p["numOutputRows"],
                "ai_calls": p["aiCalls"],
                "cache_hits": p["aiCacheHits"],
                "lag_versions": p["lagVersions"],
                "seconds": p["durationMs"]["total"] / 1000,
            }
            for p in running.recentProgress
        ]
        schema = pa.schema(
            [(k, pa.int64()) for k in list(rows[0])[:-1]] + [("seconds", pa.float64())]
            if rows
            else [("batch_id", pa.int64())]
        )
        emit(pa.Table.from_pylist(rows, schema=schema), fmt)


def _report(ctx: Any, progress: list[dict[str, Any]], seen: int) -> int:
    if not ctx.quiet:
        for p in progress[seen:]:
            say(
                f"batch {p['batchId']}: {p['numInputRows']} rows in, {p['numOutputRows']} out, "
                f"{p['aiCalls']} AI calls, lag {p['lagVersions']} versions"
            )
    return len(progress)


@stream.command("status")
@click.option("--checkpoint", help="Checkpoint directory of one stream.")
@click.option("--target", help="Only the streams into this table.")
@format_option()
@click.pass_obj
@friendly_errors
def stream_status(ctx: Any, checkpoint: str | None, target: str | None, fmt: str) -> None:
    """Where streams stand: batches committed, rows written, versions behind the source.

    One row per stream kept in the lakehouse (or into --target), or the stream whose
    checkpoint is --checkpoint."""
    from lakeinfer.catalog.delta_catalog import DeltaCatalog
    from lakeinfer.pipelines.locations import explicit_checkpoint, find_checkpoints
    from lakeinfer.pipelines.status import stream_status as compute

    with open_session(ctx) as session:
        if checkpoint is not None:
            locations = [explicit_checkpoint(checkpoint)]
        else:
            found = find_checkpoints(session.catalog.home)
            if target is not None:
                name = str(DeltaCatalog.qualify(target.split("."), session.namespace))
                found = [(t, path) for t, path in found if t == name]
            locations = [path for _, path in found]
            if not locations:
                where = f"into {target}" if target else f"in {session.catalog.home}"
                raise StreamingError(f"no stream checkpoint {where}")
        rows = [
            {"checkpoint": str(path), **compute(session.catalog, str(path))} for path in locations
        ]
    if fmt == "json" and checkpoint is not None:
        click.echo(json.dumps(rows[0]))
        return
    import pyarrow as pa

    emit(pa.Table.from_pylist(rows), fmt)


@click.group()
def jobs() -> None:
    """Jobs: YAML files of tasks (SQL, Python, streams) with dependencies, retries,
    timeouts and cron schedules; runs are recorded in system.lakeflow.job_runs and
    system.lakeflow.job_task_runs.

    \b
    Examples:
      lakeinfer jobs run nightly.yml --param day=2024-05-01
      lakeinfer jobs list ./jobs
      lakeinfer jobs serve ./jobs
      lakeinfer jobs runs --job nightly_reviews
    """


def _runner(ctx: Any) -> Any:
    from lakeinfer.config import resolve_home
    from lakeinfer.pipelines.job_runner import JobRunner

    return JobRunner(resolve_home(ctx.home), say=None if ctx.quiet else say)


@jobs.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="Job parameter.")
@format_option()
@click.pass_obj
@friendly_errors
def jobs_run(ctx: Any, file: str, params: tuple[str, ...], fmt: str) -> None:
    """Run the job in FILE once, now; exit status 1 when it does not succeed."""
    import pyarrow as pa

    from lakeinfer.pipelines.jobs import load_job

    overrides = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--param")
        overrides[name.strip()] = value
    job = load_job(file)
    run = _runner(ctx).run(job, overrides)
    rows = [
        {
            "task_key": a.task_key,
            "attempt": a.attempt,
            "status": a.status,
            "seconds": round((a.ended_at - a.started_at).total_seconds(), 3),
            "error": a.error,
        }
        for a in run.attempts
    ]
    schema = pa.schema(
        [
            ("task_key", pa.string()),
            ("attempt", pa.int64()),
            ("status", pa.string()),
            ("seconds", pa.float64()),
            ("error", pa.string()),
        ]
    )
    emit(pa.Table.from_pylist(rows, schema=schema), fmt)
    if not ctx.quiet:
        say(f"job {job.name} run {run.run_id}: {run.status}")
    if not run.ok:
        raise SystemExit(1)


@jobs.command("list")
@click.argument("directory", type=click.Path(file_okay=False))
@format_option()
@click.pass_obj
@friendly_errors
def jobs_list(ctx: Any, directory: str, fmt: str) -> None:
    """The jobs of DIRECTORY with their schedules and next run times."""
    import datetime as dt

    import pyarrow as pa

    from lakeinfer.pipelines.jobs import load_jobs

    now = dt.datetime.now(dt.UTC)
    rows = []
    for job in load_jobs(directory):
        schedule = job.schedule
        active = schedule is not None and schedule.pause_status == "UNPAUSED"
        rows.append(
            {
                "job": job.name,
                "tasks": len(job.tasks),
                "cron": schedule.cron if schedule else None,
                "timezone": schedule.timezone if schedule else None,
                "paused": None if schedule is None else not active,
                "next_run": schedule.next_run(now).isoformat() if active and schedule else None,
                "file": str(job.path),
            }
        )
    schema = pa.schema(
        [
            ("job", pa.string()),
            ("tasks", pa.int64()),
            ("cron", pa.string()),
            ("timezone", pa.string()),
            ("paused", pa.bool_()),
            ("next_run", pa.string()),
            ("file", pa.string()),
        ]
    )
    emit(pa.Table.from_pylist(rows, schema=schema), fmt)


@jobs.command("serve")
@click.argument("directory", type=click.Path(file_okay=False), required=False)
@click.pass_obj
@friendly_errors
def jobs_serve(ctx: Any, directory: str | None) -> None:
    """Run the scheduled jobs of DIRECTORY, and the refreshes of the lakehouse's materialized
    views created with a SCHEDULE, when they are due, until interrupted.

    Job files and schedules are read at start; restart the command after changing them."""
    import threading

    from lakeinfer.catalog.delta_catalog import DeltaCatalog
    from lakeinfer.config import resolve_home
    from lakeinfer.pipelines.jobs import load_jobs
    from lakeinfer.pipelines.materialized import scheduled_jobs
    from lakeinfer.pipelines.scheduler import JobScheduler, in_thread

    runner = _runner(ctx)
    found = load_jobs(directory) if directory is not None else []
    found += scheduled_jobs(DeltaCatalog(resolve_home(ctx.home)))
    scheduler = JobScheduler(found, in_thread(runner.run_scheduled))
    if not scheduler.jobs:
        where = f"in {directory} and " if directory is not None else ""
        raise JobError(f"no scheduled (unpaused) job {where}no materialized view with a SCHEDULE")
    for job in scheduler.jobs:
        say(f"{job.name}: next run {scheduler.next_runs[job.name].isoformat()}")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        scheduler.serve(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        signal.signal(signal.SIGTERM, previous)
    say("scheduler stopped; runs in progress finish first")


@jobs.command("runs")
@click.option("--job", "job_name", help="Only this job's runs.")
@click.option("--run", "run_id", help="The task attempts of one run.")
@click.option("--limit", type=int, default=20, show_default=True, help="Most recent runs shown.")
@format_option()
@click.pass_obj
@friendly_errors
def jobs_runs(ctx: Any, job_name: str | None, run_id: str | None, limit: int, fmt: str) -> None:
    """Run history (system.lakeflow.job_runs), or one run's tasks with --run."""
    from lakeinfer.pipelines.job_runner import JOB_RUNS, TASK_RUNS

    def quote(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    with open_session(ctx) as session:
        if not session.catalog.exists(JOB_RUNS):
            raise JobError("no job has run in this lakehouse yet")
        if run_id is not None:
            sql = (
                "SELECT task_key, attempt, status, started_at, duration_s, error "
                f"FROM {TASK_RUNS} WHERE run_id = {quote(run_id)} ORDER BY started_at, attempt"
            )
        else:
            where = f"WHERE job_name = {quote(job_name)}" if job_name else ""
            sql = (
                "SELECT run_id, job_name, trigger, status, started_at, duration_s, error "
                f"FROM {JOB_RUNS} {where} ORDER BY started_at DESC LIMIT {int(limit)}"
            )
        emit(session.sql(sql).to_arrow(), fmt)


def register_commands(cli: click.Group) -> None:
    cli.add_command(stream)
    cli.add_command(jobs)
