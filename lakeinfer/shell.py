"""The interactive SQL shell: ``lakeinfer sql`` with no query, on a terminal.

Statements may span lines and run when they end with ``;``. History is kept across sessions in
``<home>/_shell_history`` (up/down arrows, Ctrl-R search); table names, endpoint names and SQL
keywords complete with Tab. Errors are printed and the shell goes on; Ctrl-C drops the current
input, Ctrl-D (or ``.quit``) leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lakeinfer.errors import AnalysisError, LakeinferError

if TYPE_CHECKING:
    from lakeinfer.session import Session

PROMPT = "lakeinfer> "
CONTINUATION = "       ...> "
HISTORY_FILE = "_shell_history"
HELP = """\
Type SQL statements ending with ';' (they may span lines). Commands:
  .help            this text
  .tables          tables and views of the current schema
  .schema [NAME]   the CREATE TABLE statement of a table (of every table without NAME)
  .mode MODE       table (also box, duckbox) | json | csv for query results (.format too)
  .timer on|off    print each statement's run time
  .read FILE       run the statements of a SQL file
  .quit            leave (or Ctrl-D)
ai_query(endpoint, request [, returnType => ..., failOnError => ...]) calls a model per row."""
#: DuckDB's .mode names and the output format each maps to
MODES = {"table": "table", "box": "table", "duckbox": "table", "json": "json", "csv": "csv"}
#: DuckDB commands without an equivalent here, and what to use instead
INSTEAD = {
    ".open": "start lakeinfer with --home DIRECTORY to open another lakehouse",
    ".databases": "use SHOW CATALOGS and SHOW SCHEMAS",
    ".indexes": "use SHOW TABLES (vector indexes are tables)",
    ".headers": "headers are always shown; .mode csv or json for other layouts",
    ".output": "run lakeinfer sql -o FILE for output to a file",
    ".once": "run lakeinfer sql -o FILE for output to a file",
}

KEYWORDS = (
    "SELECT FROM WHERE GROUP BY ORDER LIMIT HAVING JOIN LEFT RIGHT FULL OUTER INNER ON AS WITH "
    "CREATE OR REPLACE TABLE VIEW TEMPORARY SCHEMA CATALOG INSERT INTO OVERWRITE VALUES UPDATE "
    "SET DELETE MERGE USING WHEN MATCHED NOT THEN DROP IF EXISTS SHOW TABLES SCHEMAS CATALOGS "
    "DESCRIBE HISTORY EXPLAIN USE RESET DISTINCT UNION ALL AND OR NULL IS CASE ELSE END CAST "
    "ai_query ai_analyze_sentiment ai_classify ai_extract ai_fix_grammar ai_gen ai_mask "
    "ai_similarity ai_summarize ai_translate ai_filter ai_agg ai_embed ai_forecast "
    "vector_search named_struct from_json to_json read_files VERSION TIMESTAMP OF"
).split()


def statement_complete(text: str) -> bool:
    """True when ``text`` ends a statement: its last token is ``;`` (outside strings and
    comments), or it is a shell command (``.quit``)."""
    stripped = text.strip()
    if not stripped or stripped.startswith(".") or stripped.lower() in ("exit", "quit"):
        return True
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    from lakeinfer.sql.parse import tokenize

    try:
        tokens = tokenize(stripped)
    except TokenError:
        return False  # an open string literal: keep reading
    return bool(tokens) and tokens[-1].token_type == TokenType.SEMICOLON


@dataclass
class ShellState:
    """What the shell's dot commands change: the result format and whether to time."""

    fmt: str = "table"
    timer: bool = False


def run_shell(
    session: Session,
    emit: Callable[[object, str], None],
    summary: Callable[[object], None],
    fmt: str = "table",
    debug: bool = False,
) -> None:
    """Read, run and print statements until the user leaves."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.sql import SqlLexer

    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event) -> None:  # noqa: ANN001 (prompt_toolkit's event type)
        buffer = event.current_buffer
        if statement_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    history = Path(session.home) / HISTORY_FILE
    history.parent.mkdir(parents=True, exist_ok=True)
    words = list(KEYWORDS) + _names(session)
    prompt = PromptSession(
        history=FileHistory(str(history)),
        lexer=PygmentsLexer(SqlLexer),
        completer=WordCompleter(words, ignore_case=True, WORD=True),
        multiline=True,
        key_bindings=bindings,
        prompt_continuation=lambda width, line, soft: CONTINUATION,
    )
    from lakeinfer.output import is_write_count

    state = ShellState(fmt)

    def run(sql: str) -> None:
        started = time.perf_counter()
        for table, is_query, stats in session.run_script(sql):
            if is_query or is_write_count(table):
                emit(table, state.fmt)
            if stats is not None:
                summary(stats)
        if state.timer:
            click.echo(f"Run Time (s): real {time.perf_counter() - started:.3f}")

    click.echo("lakeinfer shell: SQL statements end with ';'. .help for help, .quit to leave.")
    while True:
        try:
            text = prompt.prompt(PROMPT)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        command = text.strip()
        if not command:
            continue
        if command.lower() in (".quit", ".exit", "exit", "quit"):
            break
        try:
            if command.startswith("."):
                dot_command(session, command, state, lambda sql: run(sql))
            else:
                run(text)
        except KeyboardInterrupt:
            click.echo("cancelled", err=True)
        except LakeinferError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}", err=True)


def dot_command(
    session: Session, command: str, state: ShellState, run: Callable[[str], None]
) -> None:
    """Carry out one ``.command`` of the shell (DuckDB's CLI habits), changing ``state``;
    ``run`` runs SQL text as if typed."""
    name, _, argument = command.partition(" ")
    name, argument = name.lower(), argument.strip()
    if name == ".help":
        click.echo(HELP)
    elif name == ".tables":
        run("SHOW TABLES")
    elif name == ".schema":
        click.echo("\n".join(create_statements(session, argument or None)))
    elif name in (".mode", ".format"):
        if argument.lower() in MODES:
            state.fmt = MODES[argument.lower()]
        else:
            click.echo(f"usage: {name} {' | '.join(MODES)}", err=True)
    elif name == ".timer":
        if argument.lower() in ("on", "off"):
            state.timer = argument.lower() == "on"
        else:
            click.echo("usage: .timer on|off", err=True)
    elif name == ".read":
        if not argument:
            click.echo("usage: .read FILE", err=True)
            return
        from lakeinfer.text_files import read_text

        run(read_text(Path(argument).expanduser()))
    elif name in INSTEAD:
        click.echo(f"{name} is not a lakeinfer command: {INSTEAD[name]}", err=True)
    else:
        click.echo(f"unknown command {name}; .help lists them", err=True)


def create_statements(session: Session, name: str | None) -> list[str]:
    """The ``CREATE TABLE`` / ``CREATE VIEW`` statement (Databricks DDL) of ``name``, or of
    every table and view of the current schema."""
    from sqlglot import exp
    from sqlglot.errors import ParseError

    from lakeinfer.catalog.delta_catalog import DeltaCatalog
    from lakeinfer.sql.ddl import quote_field, to_ddl

    catalog = session.catalog
    if name is None:
        ns = session.namespace
        names = sorted(catalog.list_tables(ns.catalog, ns.schema))
        names += sorted(catalog.list_views(ns.catalog, ns.schema))
        parts = [[n] for n in names]
    else:
        try:
            parts = [[p.name for p in exp.to_table(name, dialect="databricks").parts]]
        except ParseError:
            raise AnalysisError(f".schema takes one table or view name, got {name!r}") from None
    statements = []
    for part in parts:
        table = DeltaCatalog.qualify(part, session.namespace)
        shown = ".".join(quote_field(p) for p in part)
        view = catalog.view(table)
        if view is not None:
            statements.append(f"CREATE VIEW {shown} AS {view.sql.strip().rstrip(';')};")
            continue
        schema = catalog.schema(table)
        details = catalog.details(table)
        columns = ",\n".join(f"  {quote_field(f.name)} {to_ddl(f.type)}" for f in schema)
        text = f"CREATE TABLE {shown} (\n{columns}\n)"
        if details["partition_columns"]:
            text += (
                f"\nPARTITIONED BY ({', '.join(map(quote_field, details['partition_columns']))})"
            )
        if details["comment"]:
            text += "\nCOMMENT '" + details["comment"].replace("'", "\\'") + "'"
        statements.append(text + ";")
    return statements


def _names(session: Session) -> list[str]:
    """Table and endpoint names to complete (best effort: never stops the shell)."""
    names: list[str] = []
    try:
        catalog = session.catalog
        for c in catalog.list_catalogs():
            for s in catalog.list_schemas(c):
                for t in catalog.list_tables(c, s):
                    names += [t, f"{c}.{s}.{t}"]
        names += session.registry.names()
    except LakeinferError:
        pass
    return names
