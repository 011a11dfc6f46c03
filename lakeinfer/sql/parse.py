"""Parse Databricks SQL text into sqlglot statements, with errors that name line and column.

Databricks semantics come from sqlglot's ``databricks`` dialect: double-quoted strings are string
literals, backslash escapes in literals are decoded, ``name => value`` is a named argument.
Statements sqlglot only knows as opaque commands (``CREATE CATALOG``, ``SHOW ...``) are returned
as :class:`sqlglot.exp.Command` and interpreted by the executor from their tokens.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from lakeinfer.errors import SqlSyntaxError

DIALECT = "databricks"

# sqlglot models AI_* and VECTOR_SEARCH after other engines' signatures (Snowflake's
# two-argument AI_AGG, BigQuery's VECTOR_SEARCH); lakeinfer binds these itself, so the
# Databricks parser keeps them as plain calls.
_PARSER = sqlglot.Dialect.get_or_raise(DIALECT).parser_class
_PARSER.FUNCTIONS = {
    name: build
    for name, build in _PARSER.FUNCTIONS.items()
    if name not in ("AI_AGG", "AI_EMBED", "AI_FORECAST", "VECTOR_SEARCH")
}

# sqlglot logs a warning for every statement it keeps as a Command; that is expected here.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def parse_statements(text: str) -> list[exp.Expression]:
    """Split ``text`` into statements; empty statements (stray ``;``) are dropped.

    Each statement keeps its own source text in ``statement.meta["source"]`` (for the query
    history). ``SET`` and ``RESET`` are kept as commands with their raw text, because Spark
    treats everything before ``=`` as the key (``SET lakeinfer.endpoints.my-llm.timeout_s = 5``).
    """
    try:
        tokens = tokenize(text)
    except TokenError as exc:
        raise SqlSyntaxError(_token_error(text, str(exc))) from None
    statements = []
    for start, end in _statement_spans(text, tokens):
        chunk = text[start:end]
        first = next((t for t in tokens if start <= t.start < end), None)
        if first is None:
            continue  # only whitespace or comments
        keyword = first.text.upper()
        if keyword in ("SET", "RESET"):
            rest = text[first.end + 1 : end].strip()
            statement: exp.Expression | None = exp.Command(
                this=keyword, expression=exp.Literal.string(rest)
            )
        else:
            statement = _parse_one(chunk, text, start)
        if statement is not None:
            statement.meta["source"] = chunk.strip()
            statements.append(statement)
    return statements


def _statement_spans(text: str, tokens: list[Token]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            spans.append((start, token.start))
            start = token.end + 1
    spans.append((start, len(text)))
    return spans


def _parse_one(chunk: str, text: str, offset: int) -> exp.Expression | None:
    try:
        parsed = [s for s in sqlglot.parse(chunk, read=DIALECT) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        message = first.get("description") or str(exc)
        near = first.get("highlight")
        if near:
            message = f"{message} near {near!r}"
        line, column = first.get("line"), first.get("col")
        if line is not None:
            # positions are relative to the statement: shift them to the whole text
            before = text[:offset]
            if line == 1:
                column = (column or 0) + offset - (before.rfind("\n") + 1)
            line += before.count("\n")
        raise SqlSyntaxError(message, line, column) from None
    except TokenError as exc:
        raise SqlSyntaxError(_token_error(chunk, str(exc))) from None
    return parsed[0] if parsed else None


def tokenize(text: str) -> list[Token]:
    """Tokens of one statement, for commands sqlglot does not model (``SHOW TABLES IN c.s``)."""
    return sqlglot.Dialect.get_or_raise(DIALECT).tokenize(text)


def _token_error(text: str, message: str) -> str:
    if text.count("'") % 2 or text.count('"') % 2:
        return "unterminated string literal"
    return message


def position_of(node: exp.Expression) -> str:
    """`` at line L, column C`` for a node that carries its source position, else ``""``."""
    line, col = node.meta.get("line"), node.meta.get("col")
    if line is None:
        return ""
    return f" at line {line}, column {col}"


Parameters = dict[str, Any] | list[Any] | tuple[Any, ...]


def bind_parameters(statements: list[exp.Expression], args: Parameters | None) -> None:
    """Replace parameter markers with literals, in place, as ``spark.sql(text, args=...)`` does.

    ``args`` is a dict for named markers (``:name``) or a sequence for positional ones (``?``),
    counted across all statements. A marker without a value is an error naming it.
    """
    named = args if isinstance(args, dict) else {}
    positional = list(args) if isinstance(args, (list, tuple)) else []
    lowered = {str(k).lower(): v for k, v in named.items()}
    next_position = 0
    for statement in statements:
        for marker in list(statement.find_all(exp.Placeholder)):
            name = "" if marker.name == "?" else marker.name
            if name:
                if name.lower() not in lowered:
                    raise SqlSyntaxError(
                        f"parameter :{name} has no value (pass args={{{name!r}: ...}} from Python "
                        f"or --param {name}=VALUE on the command line)"
                    )
                value = lowered[name.lower()]
            else:
                if next_position >= len(positional):
                    raise SqlSyntaxError(
                        f"positional parameter ? number {next_position + 1} has no value "
                        f"({len(positional)} given)"
                    )
                value = positional[next_position]
                next_position += 1
            marker.replace(exp.convert(value))
