"""Dotted names (``c.s.t``) read from the tokens of commands sqlglot keeps as text
(``SHOW TABLES IN c.s``, ``VACUUM c.s.t``), where a backquoted part may itself be ``.``."""

from __future__ import annotations

from sqlglot.tokens import Token, TokenType

from lakeinfer.errors import AnalysisError


def dotted_name(tokens: list[Token], what: str) -> tuple[list[str], int]:
    """The parts of the name the tokens start with, and how many tokens it took.

    ``what`` names the command in errors (``"VACUUM"``)."""
    parts: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if parts:
            if token.token_type != TokenType.DOT:
                break
            index += 1
            if index == len(tokens):
                raise AnalysisError(f"{what}: the name ends with '.'")
            token = tokens[index]
        if token.token_type == TokenType.DOT:
            raise AnalysisError(f"{what}: expected a name, found '.'")
        parts.append(token.text)
        index += 1
    if not parts:
        raise AnalysisError(f"{what} takes a name")
    return parts, index
