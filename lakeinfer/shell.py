"""The interactive SQL shell: ``lakeinfer sql`` with no query, on a terminal.

Statements may span lines and run when they end with ``;``. History is kept across sessions in
``<home>/_shell_history`` (up/down arrows, Ctrl-R search); table names, endpoint names and SQL
keywords complete with Tab. Errors are printed and the shell goes on; Ctrl-C drops the current
input, Ctrl-D (or ``.quit``) leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lakeinfer.errors import LakeinferError

if TYPE_CHECKING:
    from lakeinfer.session import Session

PROMPT = "lakeinfer> "
CONTINUATION = "       ...> "
HISTORY_FILE = "_shell_history"
HELP = """\
Type SQL statements ending with ';' (they may span lines). Commands:
  .help            this text
  .tables          tables of the current schema
  .format FORMAT   table | json | csv for query results
  .quit            leave (or Ctrl-D)
ai_query(endpoint, request [, returnType => ..., failOnError => ...]) calls a model per row."""

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
        if command.startswith("."):
            fmt = _command(session, command, fmt, emit)
            continue
        try:
            for table, is_query, stats in session.run_script(text):
                if is_query:
                    emit(table, fmt)
                if stats is not None:
                    summary(stats)
        except KeyboardInterrupt:
            click.echo("cancelled", err=True)
        except LakeinferError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}", err=True)


def _command(session: Session, command: str, fmt: str, emit: Callable[[object, str], None]) -> str:
    name, _, argument = command.partition(" ")
    if name == ".help":
        click.echo(HELP)
    elif name == ".tables":
        emit(session.sql("SHOW TABLES").to_arrow(), fmt)
    elif name == ".format":
        if argument.strip() in ("table", "json", "csv"):
            return argument.strip()
        click.echo("usage: .format table|json|csv", err=True)
    else:
        click.echo(f"unknown command {name}; .help lists them", err=True)
    return fmt


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
