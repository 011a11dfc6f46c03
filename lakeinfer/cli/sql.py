"""``lakeinfer sql``: run statements from the command line, a file, stdin or the shell."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from lakeinfer.cli.common import Context, format_option, friendly_errors, open_session


@click.command()
@click.argument("query", required=False)
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Read statements from a file ('-' for stdin).",
)
@format_option("table for people; json = one JSON object per row; csv with a header.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write query results to this file instead of stdout, in the format its extension "
    "names (.csv, .json, .jsonl, .parquet, .txt) unless --format is given.",
)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Bind the parameter marker :NAME (repeatable). Numbers stay numbers.",
)
@click.option("--no-cache", is_flag=True, help="Call the models even for answers already cached.")
@click.option("--budget-tokens", type=int, help="Refuse or stop a statement over this many tokens.")
@click.option(
    "--spark",
    "spark_master",
    metavar="MASTER",
    help="Run queries, CTAS and INSERT on this Spark master (spark://host:port, local[N]).",
)
@click.pass_obj
@friendly_errors
def sql(
    ctx: Context,
    query: str | None,
    file: str | None,
    fmt: str,
    output: str | None,
    params: tuple[str, ...],
    no_cache: bool,
    budget_tokens: int | None,
    spark_master: str | None = None,
) -> None:
    """Run SQL statements (separated by ';') and print what queries return.

    With no QUERY and no -f on a terminal, opens an interactive shell
    (multi-line statements ending with ';', history, Tab completion).

    \b
    Databricks SQL: SELECT (CTEs, joins, WHERE, GROUP BY, ORDER BY, LIMIT),
    CREATE [OR REPLACE] CATALOG|SCHEMA|TABLE|VIEW [AS SELECT] with
    PARTITIONED BY, COMMENT, TBLPROPERTIES; INSERT INTO|OVERWRITE, UPDATE,
    DELETE, MERGE INTO; DROP; USE; SHOW CATALOGS|SCHEMAS|TABLES|TBLPROPERTIES;
    DESCRIBE [EXTENDED|HISTORY]; time travel (t VERSION AS OF 3, TIMESTAMP
    AS OF '...'); read_files('path', format => 'csv'); EXPLAIN; SET/RESET
    lakeinfer.<key>; parameter markers (:name, bound with -p name=value); and
      ai_query(endpoint, request [, returnType] [, failOnError]
               [, modelParameters => named_struct(...)])
    failOnError => false returns STRUCT<result, errorMessage> per row
    instead of failing the statement.

    \b
    Examples:
      lakeinfer sql "SELECT * FROM main.default.reviews LIMIT 5"
      lakeinfer sql -f pipeline.sql --format json -o out.jsonl
      lakeinfer sql -p lang=en "SELECT * FROM docs WHERE lang = :lang"

    \b
    Answers are cached in the lakehouse: re-running a statement is free,
    and a statement killed midway resumes where it stopped. Each AI
    statement prints a summary on stderr and is recorded in
    system.ai.query_history (query it with SQL).
    """
    from lakeinfer.text_files import read_stream, read_text

    interactive = query is None and file is None
    if (interactive and not sys.stdin.isatty()) or file == "-":
        text = read_stream(sys.stdin.buffer, "stdin")  # `echo "SELECT 1" | lakeinfer sql`
        interactive = False
    else:
        text = read_text(file) if file is not None else query
    args = _parse_params(params)
    spark = {"spark": spark_master} if spark_master else {}
    fmt = _file_format(output, fmt)
    with open_session(ctx, **spark) as session, _output(output, fmt == "parquet") as out:
        if no_cache:
            session.settings.set("lakeinfer.cache", False)
        if budget_tokens is not None:
            session.settings.set("lakeinfer.budget_tokens", budget_tokens)

        from lakeinfer.output import ResultStream, is_write_count

        results = ResultStream(out, output)

        def emit(table: Any, form: str) -> None:
            try:
                results.write(table, form)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None

        def summary(stats: Any) -> None:
            if not ctx.quiet:
                _summary(stats)

        if interactive:
            from lakeinfer.shell import run_shell

            run_shell(session, emit, summary, fmt, debug=ctx.debug)
            return
        for table, is_query, stats in session.run_script(text, args or None):
            # a write's counts (num_affected_rows, ...) are shown as Databricks SQL shows
            # them; a file given with -o holds the queries' rows only
            if is_query or (output is None and is_write_count(table)):
                emit(table, fmt)
            if stats is not None:
                summary(stats)


def _parse_params(params: tuple[str, ...]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--param")
        args[name.strip()] = _number_or_text(value)
    return args


def _number_or_text(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _file_format(output: str | None, fmt: str) -> str:
    """The format of the results: ``--format``, or for ``-o FILE`` without it the extension's."""
    if output is None:
        return fmt
    from lakeinfer.output import file_format

    explicit = click.get_current_context().get_parameter_source("fmt")
    given = fmt if explicit is not click.core.ParameterSource.DEFAULT else None
    try:
        return file_format(output, given)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="-o/--output") from None


@contextmanager
def _output(path: str | None, binary: bool = False) -> Iterator[Any]:
    """stdout, or a file written in full only when the command succeeds."""
    if path is None:
        yield sys.stdout
        return
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    opened = partial.open("wb") if binary else partial.open("w", encoding="utf-8", newline="")
    with opened as file:
        try:
            yield file
        except BaseException:
            file.close()
            partial.unlink(missing_ok=True)
            raise
    partial.replace(target)


def _summary(stats) -> None:
    click.echo(stats.summary(), err=True)


def register_commands(cli: click.Group) -> None:
    cli.add_command(sql)
