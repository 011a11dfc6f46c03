"""``lakeinfer stream ...`` and ``lakeinfer jobs ...`` commands.

The shared helpers of :mod:`lakeinfer.cli` are imported when a command runs, not at import
time, because ``lakeinfer.cli`` imports this module to register its groups.
"""

from __future__ import annotations

import functools
import json
import signal
from collections.abc import Callable
from typing import Any

import click

FORMATS = click.Choice(["table", "json", "csv"])


def _friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from lakeinfer.cli import _friendly_errors as friendly

        return friendly(func)(*args, **kwargs)

    return wrapper


def _session(ctx: Any) -> Any:
    from lakeinfer.cli import _session as session

    return session(ctx)


def _emit(table: Any, fmt: str) -> None:
    from lakeinfer.cli import _emit as emit

    emit(table, fmt)


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.group()
def stream() -> None:
    """Incremental inference: read new rows of a Delta table, write answers exactly once.

    \b
    Example:
      lakeinfer stream run --checkpoint ./ckpt/summaries --target main.default.summaries \\
          --query "SELECT id, ai_query('my-llm', 'Summarize: ' || text) AS summary
                   FROM STREAM(main.default.docs)" --option maxBytesPerTrigger=50K
      lakeinfer stream status --checkpoint ./ckpt/summaries
    """


@stream.command("run")
@click.option("--query", required=True, help="SELECT ... FROM STREAM(catalog.schema.table) ...")
@click.option("--target", required=True, help="Delta table the answers are appended to.")
@click.option("--checkpoint", required=True, help="Checkpoint directory of this stream.")
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
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
@_friendly_errors
def stream_run(
    ctx: Any,
    query: str,
    target: str,
    checkpoint: str,
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
    with _session(ctx) as session:
        source = DeltaCatalog.qualify([p.name for p in table.parts], session.namespace)
        sink = DeltaCatalog.qualify(target.split("."), session.namespace)
        spec = StreamSpec(source, sink, tree, checkpoint, limits, skip)
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
        _emit(pa.Table.from_pylist(rows, schema=schema), fmt)


def _report(ctx: Any, progress: list[dict[str, Any]], seen: int) -> int:
    if not ctx.quiet:
        for p in progress[seen:]:
            _say(
                f"batch {p['batchId']}: {p['numInputRows']} rows in, {p['numOutputRows']} out, "
                f"{p['aiCalls']} AI calls, lag {p['lagVersions']} versions"
            )
    return len(progress)


@stream.command("status")
@click.option("--checkpoint", required=True, help="Checkpoint directory of the stream.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
@_friendly_errors
def stream_status(ctx: Any, checkpoint: str, fmt: str) -> None:
    """Where a stream stands: batches committed, rows written, versions behind the source."""
    from lakeinfer.pipelines.status import stream_status as compute

    with _session(ctx) as session:
        row = compute(session.catalog, checkpoint)
    if fmt == "json":
        click.echo(json.dumps(row))
        return
    import pyarrow as pa

    _emit(pa.Table.from_pylist([row]), fmt)
