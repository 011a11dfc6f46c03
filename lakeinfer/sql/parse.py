"""Parse Databricks SQL text into sqlglot statements, with errors that name line and column.

Databricks semantics come from sqlglot's ``databricks`` dialect: double-quoted strings are string
literals, backslash escapes in literals are decoded, ``name => value`` is a named argument. The
statements lakeinfer adds (``CREATE CATALOG``, ``VACUUM``, ``SHOW ...``, those features register)
are parsed by the ``lakeinfer`` dialect that extends it (:mod:`lakeinfer.sql.dialect`); a
statement nothing models is a :class:`sqlglot.exp.Command`.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from lakeinfer.errors import SqlSyntaxError
from lakeinfer.sql import dialect, syntax
from lakeinfer.sql.ddl import TYPE_NAMES

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


class _Parser(dialect.Parser):
    """The lakeinfer parser, remembering the token it stopped at when it fails."""

    failure: syntax.Failure | None = None

    def raise_error(self, message: str, token: Token | None = None) -> None:
        at = token or self._curr
        self.failure = syntax.Failure(
            message, at or None, self._prev or None, exact=self.exact_failure
        )
        if token is None:
            super().raise_error(message)
        else:
            super().raise_error(message, token)


#: First tokens a statement may start with (anything else is an unknown statement).
_STATEMENT_STARTS = (
    set(_PARSER.STATEMENT_PARSERS)
    | set(dialect.Tokenizer.COMMANDS)
    | {TokenType.SELECT, TokenType.WITH, TokenType.FROM, TokenType.VALUES, TokenType.TABLE}
    | {TokenType.L_PAREN}
)


def parse_statements(text: str) -> list[exp.Expression]:
    """Split ``text`` into statements; empty statements (stray ``;``) are dropped.

    Each statement keeps its own source text in ``statement.meta["source"]`` (for the query
    history).
    """
    try:
        tokens = tokenize(text)
    except TokenError:
        raise syntax.tokenize_failure(text) from None
    statements = []
    for start, end in _statement_spans(text, tokens):
        chunk = text[start:end]
        if not any(start <= t.start < end for t in tokens):
            continue  # only whitespace or comments
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
        tokens = tokenize(chunk)
    except TokenError:
        raise syntax.tokenize_failure(text) from None
    first = tokens[0] if tokens else None
    if first is not None and first.token_type not in _STATEMENT_STARTS:
        if not dialect.starts_statement(first):
            raise syntax.unknown_statement(text, first, offset)
    parsed = _parse_tokens(tokens, chunk, text, offset)
    if parsed:
        statement, inner = parsed[0], tokens
        while isinstance(statement, dialect.Explain):
            statement, inner = statement.this, inner[1:]
        syntax.check_complete(text, offset, statement, inner)
    return parsed[0] if parsed else None


def _parse_tokens(tokens: list[Token], chunk: str, text: str, offset: int) -> list[exp.Expression]:
    """Parse the tokens of ``chunk``, which starts at ``offset`` in ``text`` (errors point into
    ``text``)."""
    parser = _Parser(dialect=sqlglot.Dialect.get_or_raise(dialect.NAME))
    try:
        parsed = [s for s in parser.parse(tokens, chunk) if s is not None]
    except ParseError:
        failure = parser.failure or syntax.Failure("", None, tokens[-1] if tokens else None)
        raise syntax.parse_failure(text, offset, failure, tokens, TYPE_NAMES) from None
    if offset:
        lines = syntax.Lines(text)
        for statement in parsed:
            _shift_positions(statement, offset, lines)
    return parsed


def _shift_positions(statement: exp.Expression, offset: int, lines: syntax.Lines) -> None:
    """Positions the parser recorded in one statement, made positions in the whole text."""
    for node in statement.walk():
        meta = node._meta  # read without creating an empty dict on every node
        if not meta or meta.get("start") is None or meta.get("end") is None:
            continue
        meta["start"] += offset
        meta["end"] += offset
        meta["line"], meta["col"] = lines.position(meta["end"])


def parse_expression(text: str, start: int = 0, end: int | None = None) -> exp.Expression | None:
    """Parse ``text[start:end]`` as one SQL expression (what a SELECT list item may be); None
    when it is something else (several expressions, a query). A syntax error points into
    ``text``."""
    prefix = "SELECT "
    chunk = prefix + text[start:end]
    try:
        tokens = tokenize(chunk)
    except TokenError:
        raise syntax.tokenize_failure(text) from None
    parsed = _parse_tokens(tokens, chunk, text, start - len(prefix))
    select = parsed[0] if len(parsed) == 1 else None
    if not isinstance(select, exp.Select) or len(select.expressions) != 1:
        return None
    return None if select.args.get("from_") else select.expressions[0]


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, as the parser reads them."""
    return sqlglot.Dialect.get_or_raise(dialect.NAME).tokenize(text)


def position_of(node: exp.Expression) -> str:
    """`` at line L, column C`` for a node that carries its source position, else ``""``."""
    line, col = node.meta.get("line"), node.meta.get("col")
    if line is None:
        return ""
    start, end = node.meta.get("start"), node.meta.get("end")
    if start is not None and end is not None and col > end - start:
        col -= end - start  # the parser keeps where the token ends; name where it starts
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
