"""``lakeinfer cache stats|clear``: the persistent response cache."""

from __future__ import annotations

import click

from lakeinfer.cli.common import Context, emit, format_option, friendly_errors


@click.group()
def cache() -> None:
    """The persistent response cache (<home>/_cache/responses.sqlite).

    \b
    Answers are cached per endpoint, model, request, returnType and model
    parameters (temperature > 0 too, unless SET
    lakeinfer.cache_nonzero_temperature = false). Bypass it for one run with
    `lakeinfer sql --no-cache` or SET lakeinfer.cache = false.
    """


@cache.command("stats")
@format_option()
@click.pass_obj
@friendly_errors
def cache_stats(ctx: Context, fmt: str) -> None:
    """Entries and size per endpoint."""
    import pyarrow as pa

    from lakeinfer.config import resolve_home
    from lakeinfer.runtime.cache import ResponseCache, cache_path

    store = ResponseCache(cache_path(resolve_home(ctx.home)))
    try:
        rows = store.stats()
    finally:
        store.close()
    columns = ["endpoint", "entries", "bytes"]
    emit(
        pa.table(
            {c: [r[c] for r in rows] for c in columns},
            schema=pa.schema(
                [("endpoint", pa.string()), ("entries", pa.int64()), ("bytes", pa.int64())]
            ),
        ),
        fmt,
    )


@cache.command("clear")
@click.option("--endpoint", help="Only this endpoint's answers.")
@click.pass_obj
@friendly_errors
def cache_clear(ctx: Context, endpoint: str | None) -> None:
    """Delete cached answers (all, or one endpoint's)."""
    from lakeinfer.config import resolve_home
    from lakeinfer.runtime.cache import ResponseCache, cache_path

    store = ResponseCache(cache_path(resolve_home(ctx.home)))
    try:
        deleted = store.clear(endpoint)
    finally:
        store.close()
    click.echo(f"deleted {deleted} cached answer{'s' if deleted != 1 else ''}")


def register_commands(cli: click.Group) -> None:
    cli.add_command(cache)
