"""``lakeinfer demo``: the end-to-end example on the embedded model."""

from __future__ import annotations

import time
from pathlib import Path

import click

from lakeinfer.cli.common import (
    Context,
    emit,
    format_option,
    friendly_errors,
    open_session,
    say,
)


@click.command()
@format_option()
@click.pass_obj
@friendly_errors
def demo(ctx: Context, fmt: str) -> None:
    """Run the end-to-end example on the embedded model.

    \b
    Creates sample Delta tables (uc_catalog.schema.table and
    catalog.schema.product_reviews), runs the two ai_query statements of
    Databricks' batch-inference guide unchanged, writes their answers to
    main.default.text_summaries and main.default.review_opinions, and
    shows them.
    """
    from lakeinfer.demo import run_demo

    started = time.monotonic()
    with open_session(ctx) as session:
        run_demo(session, lambda table: emit(table, fmt), say=None if ctx.quiet else say)
    if not ctx.quiet:
        say(
            f"demo finished in {time.monotonic() - started:.1f}s; tables are under {Path(session.home)}"
        )


def register_commands(cli: click.Group) -> None:
    cli.add_command(demo)
