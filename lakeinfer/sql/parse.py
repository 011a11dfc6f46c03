"""Parse Databricks SQL text into sqlglot statements, with errors that name line and column.

Databricks semantics come from sqlglot's ``databricks`` dialect: double-quoted strings are string
literals, backslash escapes in literals are decoded, ``name => value`` is a named argument.
Statements sqlglot only knows as opaque commands (``CREATE CATALOG``, ``SHOW ...``) are returned
as :class:`sqlglot.exp.Command` and interpreted by the executor from their tokens.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token

from lakeinfer.errors import SqlSyntaxError

DIALECT = "databricks"

# sqlglot logs a warning for every statement it keeps as a Command; that is expected here.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def parse_statements(text: str) -> list[exp.Expression]:
    """Split ``text`` into statements; empty statements (stray ``;``) are dropped."""
    try:
        statements = sqlglot.parse(text, read=DIALECT)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        message = first.get("description") or str(exc)
        near = first.get("highlight")
        if near:
            message = f"{message} near {near!r}"
        raise SqlSyntaxError(message, first.get("line"), first.get("col")) from None
    except TokenError as exc:
        raise SqlSyntaxError(_token_error(text, str(exc))) from None
    return [s for s in statements if s is not None]


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
