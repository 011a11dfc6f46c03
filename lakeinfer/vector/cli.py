"""``lakeinfer index create|list|refresh|drop``: vector indexes from the command line (the same
statements as ``CREATE VECTOR INDEX`` and friends, see :mod:`lakeinfer.vector.sql`)."""

from __future__ import annotations

from typing import Any

import click

from lakeinfer.cli.common import emit, format_option, friendly_errors, open_session


def _run(ctx: Any, statement: str, fmt: str | None) -> None:
    with open_session(ctx) as session:
        table = session.sql(statement).to_arrow()
        if fmt is not None:
            emit(table, fmt)


def _quoted(name: str) -> str:
    """A dotted name with each part in backticks."""
    return ".".join(f"`{part.replace('`', '``')}`" for part in name.split("."))


@click.group("index")
def index() -> None:
    """Vector indexes over a table column, searched with vector_search(...) in SQL."""


@index.command("create")
@click.argument("name")
@click.option("--table", required=True, help="The table to index (catalog.schema.table).")
@click.option("--column", required=True, help="The text column to embed.")
@click.option("--endpoint", help="Embeddings endpoint (default: the embedded all-MiniLM-L6-v2).")
@click.option("--replace", is_flag=True, help="Rebuild the index if it exists.")
@format_option()
@click.pass_obj
@friendly_errors
def create(
    ctx: Any, name: str, table: str, column: str, endpoint: str | None, replace: bool, fmt: str
) -> None:
    """Build index NAME over --table's --column."""
    using = f" USING `{endpoint}`" if endpoint else ""
    verb = "CREATE OR REPLACE" if replace else "CREATE"
    statement = (
        f"{verb} VECTOR INDEX {_quoted(name)} ON {_quoted(table)} ({_quoted(column)}){using}"
    )
    _run(ctx, statement, fmt)


@index.command("list")
@format_option()
@click.pass_obj
@friendly_errors
def list_indexes(ctx: Any, fmt: str) -> None:
    """The vector indexes of the lakehouse."""
    _run(ctx, "SHOW VECTOR INDEXES", fmt)


@index.command("refresh")
@click.argument("name")
@format_option()
@click.pass_obj
@friendly_errors
def refresh(ctx: Any, name: str, fmt: str) -> None:
    """Rebuild index NAME from its table now (searches also refresh it when the table changed)."""
    _run(ctx, f"REFRESH VECTOR INDEX {_quoted(name)}", fmt)


@index.command("drop")
@click.argument("name")
@click.option("--if-exists", is_flag=True, help="No error when the index does not exist.")
@click.pass_obj
@friendly_errors
def drop(ctx: Any, name: str, if_exists: bool) -> None:
    """Delete index NAME."""
    _run(ctx, f"DROP VECTOR INDEX {'IF EXISTS ' if if_exists else ''}{_quoted(name)}", None)


def register_commands(cli: click.Group) -> None:
    cli.add_command(index)
