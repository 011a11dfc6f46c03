"""``lakeinfer batches list|status|cancel``: the provider batches statements submitted."""

from __future__ import annotations

import click

from lakeinfer.cli.common import Context, emit, format_option, friendly_errors, open_session

COLUMNS = (
    "batch_id",
    "endpoint",
    "status",
    "requests",
    "completed",
    "failed",
    "collected",
    "created_at",
    "record",
)


@click.group()
def batches() -> None:
    """Batches submitted to providers' batch APIs (<home>/_batches).

    \b
    Statements send their requests through a provider's batch API (half
    price, answers within 24 h) under SET lakeinfer.batch_mode = 'auto' or
    'on', or an endpoint's batch_mode in config.toml. Each batch is recorded
    here when it is submitted: a statement run again picks up its batch
    instead of paying twice.
    """


def _table(records: list) -> object:
    import datetime as dt

    import pyarrow as pa

    rows = [r.row() for r in records]
    for row in rows:
        row["created_at"] = dt.datetime.fromtimestamp(row["created_at"], dt.UTC)
    schema = pa.schema(
        [
            ("batch_id", pa.string()),
            ("endpoint", pa.string()),
            ("status", pa.string()),
            ("requests", pa.int64()),
            ("completed", pa.int64()),
            ("failed", pa.int64()),
            ("collected", pa.bool_()),
            ("created_at", pa.timestamp("s", tz="UTC")),
            ("record", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


@batches.command("list")
@format_option()
@click.pass_obj
@friendly_errors
def batches_list(ctx: Context, fmt: str) -> None:
    """Every recorded batch, oldest first, with its last known status."""
    from lakeinfer.config import resolve_home
    from lakeinfer.engine.batch_records import BatchRecords

    emit(_table(list(BatchRecords(resolve_home(ctx.home)))), fmt)


def _look_up(ctx: Context, batch_id: str, cancel: bool) -> object:
    from lakeinfer.engine.batch_mode import look_up
    from lakeinfer.engine.batch_records import BatchRecords

    with open_session(ctx) as session:
        records = BatchRecords(session.home)
        return look_up(session.registry, session.loop.run, records, batch_id, cancel=cancel)


@batches.command("status")
@click.argument("batch_id")
@format_option()
@click.pass_obj
@friendly_errors
def batches_status(ctx: Context, batch_id: str, fmt: str) -> None:
    """BATCH_ID's status as its provider reports it now (the batch id or the record id)."""
    emit(_table([_look_up(ctx, batch_id, cancel=False)]), fmt)


@batches.command("cancel")
@click.argument("batch_id")
@format_option()
@click.pass_obj
@friendly_errors
def batches_cancel(ctx: Context, batch_id: str, fmt: str) -> None:
    """Ask the provider to stop BATCH_ID. A statement waiting for it fails; run again, it
    submits the requests not answered yet in a new batch."""
    emit(_table([_look_up(ctx, batch_id, cancel=True)]), fmt)


def register_commands(cli: click.Group) -> None:
    cli.add_command(batches)
