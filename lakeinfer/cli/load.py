"""``lakeinfer load``: a CSV, Parquet or JSON-lines file into a Delta table."""

from __future__ import annotations

import click

from lakeinfer.cli.common import Context, friendly_errors, open_session


@click.command()
@click.argument("path", type=click.Path(exists=True))
@click.argument("table")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "json", "parquet"]),
    help="File format (default: from the file extension).",
)
@click.option(
    "--mode",
    type=click.Choice(["create", "append", "overwrite"]),
    default="create",
    show_default=True,
    help="create a new table, append to an existing one, or replace its rows.",
)
@click.option(
    "--header/--no-header",
    default=True,
    show_default=True,
    help="CSV: the first line names columns.",
)
@click.pass_obj
@friendly_errors
def load(
    ctx: Context, path: str, table: str, file_format: str | None, mode: str, header: bool
) -> None:
    """Load a CSV, Parquet or JSON-lines file (or a directory of them) into a Delta table.

    \b
    Examples:
      lakeinfer load reviews.csv main.default.reviews
      lakeinfer load exports/ main.raw.events --format parquet --mode append
    Same as: CREATE TABLE t AS SELECT * FROM read_files('PATH', format => ...)
    """
    from sqlglot import exp

    options = [exp.Literal.string(path).sql()]
    if file_format is not None:
        options.append(f"format => {exp.Literal.string(file_format).sql()}")
    options.append(f"header => {'true' if header else 'false'}")
    source = f"SELECT * FROM read_files({', '.join(options)})"
    statement = {
        "create": f"CREATE TABLE {table} AS {source}",
        "append": f"INSERT INTO {table} {source}",
        "overwrite": f"INSERT OVERWRITE {table} {source}",
    }[mode]
    with open_session(ctx) as session:
        if mode == "create" and session.table_exists(table):
            raise click.UsageError(
                f"table {table} already exists: add --mode append or --mode overwrite"
            )
        counts = session.sql(statement).to_pylist()
    rows = counts[0]["num_inserted_rows"] if counts else 0
    if not ctx.quiet:
        click.echo(f"loaded {rows} rows into {table}", err=True)


def register_commands(cli: click.Group) -> None:
    cli.add_command(load)
