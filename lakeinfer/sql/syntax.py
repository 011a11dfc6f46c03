"""Syntax errors a user can act on: the problem in SQL words, where it is, a caret under it.

The parser reports a failure in its own terms (``Required keyword: 'this' missing for <class
'...Where'>``, ``Expecting )``) at the end of the token it stopped on. Here the token it stopped
at (or the end of the statement) becomes a :class:`SqlSyntaxError` that names the problem as a
SQL user would (``WHERE needs a condition``), gives the line and column where the token starts
and shows that line with a caret under the token. A misspelt keyword (``SELEC``, ``FORM``) or
type name (``STRNG``) is pointed at with the closest correct word.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from lakeinfer.errors import SqlSyntaxError, StatementSyntaxError

#: Words a Databricks statement starts with (suggested when the first word is unknown).
STATEMENT_KEYWORDS = (
    "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "DROP", "ALTER",
    "DESCRIBE", "SHOW", "USE", "EXPLAIN", "SET", "RESET", "VALUES", "COMMENT", "REFRESH",
    "VACUUM", "TRUNCATE", "FROM", "TABLE",
)  # fmt: skip
#: Keywords inside a statement; an unknown word close to one of them is probably a typo.
CLAUSE_KEYWORDS = (
    "SELECT", "FROM", "WHERE", "GROUP", "ORDER", "BY", "HAVING", "LIMIT", "OFFSET", "JOIN",
    "LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "ON", "USING", "UNION", "INTERSECT",
    "EXCEPT", "AS", "AND", "OR", "NOT", "IN", "LIKE", "BETWEEN", "CASE", "WHEN", "THEN",
    "ELSE", "END", "DISTINCT", "VALUES", "INTO", "SET", "TABLE", "QUALIFY", "WINDOW", "OVER",
    "PARTITION", "IS", "NULL", "EXISTS", "MATCHED", "WITH", "ASC", "DESC",
)  # fmt: skip
#: What an incomplete construct needs, by the parser's name for it.
_INCOMPLETE = {
    "Where": "WHERE needs a condition",
    "Having": "HAVING needs a condition",
    "Qualify": "QUALIFY needs a condition",
    "Order": "ORDER BY needs at least one expression",
    "Group": "GROUP BY needs at least one expression",
    "Limit": "LIMIT needs a number of rows",
    "Offset": "OFFSET needs a number of rows",
    "Union": "UNION needs a query on each side",
    "Intersect": "INTERSECT needs a query on each side",
    "Except": "EXCEPT needs a query on each side",
    "Between": "BETWEEN needs a lower and an upper bound (x BETWEEN a AND b)",
    "Kwarg": "a named argument needs a value after '=>'",
    "PropertyEQ": "a named argument needs a value after '=>'",
    "Whens": "MERGE needs WHEN MATCHED or WHEN NOT MATCHED clauses",
    "Join": "JOIN needs a table",
    "Cast": "CAST needs a type (CAST(x AS type))",
    "In": "IN needs a list of values or a query",
    "Like": "LIKE needs a pattern",
    "Alias": "AS needs a name",
    "Ordered": "ORDER BY needs an expression",
    "Not": "NOT needs an expression",
    "Exists": "EXISTS needs a query",
}
_REQUIRED = re.compile(r"Required keyword: '\w+' missing for <class '(?:[\w.]*\.)?(\w+)'>")
_EXPECTING = re.compile(r"^Expecting (\S+)$")
_EXPECTED_BUT = re.compile(r"^Expected (.+?) but got .*$", re.DOTALL)
_UNEXPECTED = "Invalid expression / Unexpected token"
_INTERNALS = re.compile(r"<Token [^>]*>|<class '[^']*'>")
#: Words a leaked message must never contain.
INTERNAL_MARKERS = ("sqlglot", "<class", "expressions.", "Token(", "<Token", "TokenType")


@dataclass
class Failure:
    """Where the parser gave up on one statement."""

    message: str  #: the parser's own description
    token: Token | None  #: the token it stopped at; None when the statement ended first
    previous: Token | None  #: the last token it had read
    #: ``message`` is already in SQL words (a lakeinfer statement's grammar said it)
    exact: bool = False


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


class Lines:
    """Line and column of many offsets in one text (its line starts are found once)."""

    def __init__(self, text: str):
        self.size = len(text)
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and column of character ``offset``."""
        offset = max(0, min(offset, self.size))
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


def snippet(text: str, start: int, end: int) -> str:
    """The line of ``text`` holding ``start``, indented, with carets under ``start..end``."""
    start = max(0, min(start, len(text)))
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    line = text[line_start:line_end].replace("\t", " ")
    column = start - line_start
    width = max(1, min(end, line_end) - start)
    if len(line) > 100:  # a window around the spot, so the caret stays on screen
        left = max(0, column - 50)
        line = ("..." if left else "") + line[left : left + 100]
        column = column - left + (3 if left else 0)
    return f"  {line.rstrip()}\n  {' ' * column}{'^' * width}"


def error_at(
    text: str, start: int, end: int, message: str, kind: type[SqlSyntaxError] = SqlSyntaxError
) -> SqlSyntaxError:
    """A syntax error for ``text[start:end]`` (``end`` exclusive)."""
    line, column = position(text, start)
    return kind(message, line, column, snippet(text, start, end))


def _token_span(token: Token, offset: int) -> tuple[int, int]:
    return token.start + offset, token.end + 1 + offset


def _quoted(token: Token) -> str:
    return (
        repr(token.text) if token.token_type != TokenType.STRING else f"the string {token.text!r}"
    )


def _is_word(token: Token | None) -> bool:
    return token is not None and token.token_type == TokenType.VAR


def suggest(word: str, choices: Sequence[str], cutoff: float = 0.75) -> str | None:
    """The choice closest to ``word`` (compared upper-cased), or None."""
    found = difflib.get_close_matches(word.upper(), choices, n=1, cutoff=cutoff)
    return found[0] if found else None


def unknown_statement(text: str, token: Token, offset: int) -> SqlSyntaxError:
    """The first word of a statement is not one a statement starts with."""
    start, end = _token_span(token, offset)
    close = suggest(token.text, STATEMENT_KEYWORDS, cutoff=0.6) if _is_word(token) else None
    if close:
        hint = f"; did you mean {close}?"
    else:
        hint = " (a statement starts with SELECT, WITH, INSERT, CREATE, ...)"
    return error_at(text, start, end, f"unknown statement {_quoted(token)}{hint}")


def parse_failure(
    text: str, offset: int, failure: Failure, tokens: Sequence[Token], type_names: Sequence[str]
) -> SqlSyntaxError:
    """The error for a statement of ``text`` (starting at ``offset``) the parser gave up on.

    ``tokens`` are the statement's tokens (positions relative to ``offset``); ``type_names``
    the type names a misspelt one is compared with.
    """
    typo = None if failure.exact else _misspelt_type(tokens, type_names)
    typo = typo or _misspelt_keyword(failure)
    if typo is not None:
        token, message = typo
        return error_at(text, *_token_span(token, offset), message)
    message = _problem(failure)
    kind = StatementSyntaxError if failure.exact else SqlSyntaxError
    if failure.token is None:
        last = failure.previous or (tokens[-1] if tokens else None)
        at = last.end + 1 + offset if last is not None else offset
        return error_at(text, at, at + 1, f"{message}, but the statement ends here", kind)
    return error_at(text, *_token_span(failure.token, offset), message, kind)


def _problem(failure: Failure) -> str:
    description = failure.message
    if failure.exact:
        return description
    token, previous = failure.token, failure.previous
    found = f", found {_quoted(token)}" if token is not None else ""
    required = _REQUIRED.search(description)
    if required:
        kind = required.group(1)
        if kind in _INCOMPLETE:
            return _INCOMPLETE[kind] + found
        after = f" after {_quoted(previous)}" if previous is not None else ""
        return f"expected an expression{after}{found}"
    expecting = _EXPECTING.match(description)
    if expecting:
        return f"expected {expecting.group(1)!r}{found}"
    if description == _UNEXPECTED and token is not None:
        return f"unexpected {_quoted(token)}"
    if description in ("Expected TYPE after CAST", "Expected type", "Expected type after '::'"):
        return f"expected a type{found}"
    if description == "Expected END after CASE":
        return f"CASE needs END{found}"
    if description == "Failed to parse any statement following CTE":
        return "WITH needs a query after its named subqueries"
    if description == "Expected CTE to have alias":
        return "each WITH subquery needs a name: WITH name AS (SELECT ...)"
    but = _EXPECTED_BUT.match(description)
    if but:
        return f"expected {_article(but.group(1))}{found}"
    cleaned = _INTERNALS.sub("", description).strip().rstrip(".")
    if not cleaned or any(marker in cleaned for marker in INTERNAL_MARKERS):
        return f"unexpected {_quoted(token)}" if token is not None else "incomplete statement"
    return cleaned[0].lower() + cleaned[1:] + found


def _article(noun: str) -> str:
    noun = noun.strip()
    if noun.split(" ")[0].isupper():
        return noun  # a keyword: "expected END"
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _misspelt_keyword(failure: Failure) -> tuple[Token, str] | None:
    """An unknown word next to a token the parser could not place that is close to a keyword
    (``SELECT * FORM t``: FORM was read as an alias, then ``t`` was unexpected)."""
    if failure.message != _UNEXPECTED:
        return None
    for token in (failure.previous, failure.token):
        if _is_word(token):
            assert token is not None
            close = suggest(token.text, CLAUSE_KEYWORDS)
            if close is not None and close != token.text.upper():
                return token, f"unexpected {_quoted(token)}; did you mean {close}?"
    return None


def _misspelt_type(tokens: Sequence[Token], type_names: Sequence[str]) -> tuple[Token, str] | None:
    """An unknown word where a type is expected (``CAST(x AS STRNG)``, ``a STRUCT<b: STRNG>``,
    ``CREATE TABLE t (a STRNG)``), with the closest type name."""
    known = {name.upper() for name in type_names}
    for token in _type_positions(tokens):
        if token.token_type == TokenType.VAR and token.text.upper() not in known:
            close = suggest(token.text, sorted(known), cutoff=0.6)
            hint = f"; did you mean {close}?" if close else ""
            return token, f"unknown type {token.text!r}{hint}"
    return None


def _type_positions(tokens: Sequence[Token]) -> list[Token]:
    """Tokens that stand where a type name must: after ``::``, after AS in CAST(...), after
    ``<`` or ``:`` in ARRAY<...>/MAP<...>/STRUCT<...>, and after a column name in the column
    list of CREATE TABLE."""
    found: list[Token] = []
    nested: list[str] = []  # the open ARRAY< / MAP< / STRUCT<, innermost last
    cast_depths: list[int] = []  # paren depths of the open CAST( calls
    paren = 0
    column_list = -1  # paren depth of CREATE TABLE's column list, once open
    # CREATE TABLE ..., or EXPLAIN CREATE TABLE ...
    creating = any(t.token_type == TokenType.CREATE for t in tokens[:2])
    kinds = [t.token_type for t in tokens]
    for index, token in enumerate(tokens):
        kind = token.token_type
        before = tokens[index - 1] if index else None
        if kind == TokenType.L_PAREN:
            paren += 1
            if before is not None and before.text.upper() in ("CAST", "TRY_CAST"):
                cast_depths.append(paren)
            if creating and column_list < 0 and TokenType.TABLE in kinds[:index]:
                column_list = paren
        elif kind == TokenType.R_PAREN:
            if cast_depths and cast_depths[-1] == paren:
                cast_depths.pop()
            paren -= 1
        elif kind == TokenType.LT and before is not None and before.text.upper() in _NESTED:
            nested.append(before.text.upper())
        elif kind == TokenType.GT and nested:
            nested.pop()
        if before is None:
            continue
        if before.token_type == TokenType.DCOLON:
            found.append(token)
        elif before.token_type == TokenType.ALIAS and cast_depths and cast_depths[-1] == paren:
            found.append(token)
        elif nested and _type_in_brackets(nested[-1], before):
            found.append(token)
        elif (
            column_list > 0
            and paren == column_list
            and not nested
            and index >= 2
            and tokens[index - 2].token_type in (TokenType.L_PAREN, TokenType.COMMA)
            and before.token_type in (TokenType.VAR, TokenType.IDENTIFIER)
        ):
            found.append(token)
    return found


_NESTED = ("ARRAY", "MAP", "STRUCT")


def _type_in_brackets(kind: str, before: Token) -> bool:
    """Whether, inside ``kind<...>``, the token after ``before`` is a type (not a field name)."""
    if kind == "STRUCT":
        return before.token_type == TokenType.COLON
    if kind == "MAP":
        return before.token_type in (TokenType.LT, TokenType.COMMA)
    return before.token_type == TokenType.LT


def tokenize_failure(text: str) -> SqlSyntaxError:
    """The error for text that cannot be split into tokens: an unterminated string, quoted
    name or comment, pointed at where it opens."""
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if char in "'\"`":
            close = _closing_quote(text, index)
            if close < 0:
                what = "quoted name" if char == "`" else "string literal"
                return error_at(text, index, index + 1, f"unterminated {what} (no closing {char})")
            index = close + 1
        elif text.startswith("--", index):
            newline = text.find("\n", index)
            index = size if newline < 0 else newline + 1
        elif text.startswith("/*", index):
            close = text.find("*/", index + 2)
            if close < 0:
                return error_at(text, index, index + 2, "unterminated comment (no closing */)")
            index = close + 2
        else:
            index += 1
    return error_at(text, 0, 1, "the text cannot be read as SQL")


def _closing_quote(text: str, start: int) -> int:
    quote, index = text[start], start + 1
    while index < len(text):
        char = text[index]
        if char == "\\" and quote != "`":
            index += 2
            continue
        if char == quote:
            if quote == "`" and text.startswith("``", index):
                index += 2
                continue
            return index
        index += 1
    return -1


#: Tokens that open the next clause: what follows a keyword whose operand is missing.
_CLAUSE_STARTS = {
    TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY, TokenType.ORDER_BY, TokenType.HAVING,
    TokenType.LIMIT, TokenType.QUALIFY, TokenType.WINDOW, TokenType.UNION, TokenType.EXCEPT,
    TokenType.INTERSECT, TokenType.JOIN, TokenType.LEFT, TokenType.RIGHT, TokenType.INNER,
    TokenType.OUTER, TokenType.FULL, TokenType.CROSS, TokenType.CLUSTER_BY,
    TokenType.DISTRIBUTE_BY, TokenType.SORT_BY, TokenType.R_PAREN, TokenType.SEMICOLON,
}  # fmt: skip


def _starts_clause(tokens: Sequence[Token], index: int) -> bool:
    """Whether ``tokens[index]`` opens the next clause (``LEFT JOIN``), not a call (``left(s, 2)``)."""
    kind = tokens[index].token_type
    if kind not in _CLAUSE_STARTS:
        return False
    if kind in (TokenType.R_PAREN, TokenType.SEMICOLON):
        return True
    after = tokens[index + 1] if index + 1 < len(tokens) else None
    return after is None or after.token_type != TokenType.L_PAREN


#: Keywords that need something after them, and what.
_NEEDS = {
    TokenType.ON: "ON needs a join condition",
    TokenType.GROUP_BY: "GROUP BY needs at least one expression",
    TokenType.TABLE_SAMPLE: "TABLESAMPLE needs a sample size",
    TokenType.COMMA: "expected an expression after ','",
    TokenType.SELECT: "SELECT needs at least one expression",
}


def check_complete(
    text: str, offset: int, statement: exp.Expression, tokens: Sequence[Token]
) -> None:
    """Refuse a statement the parser accepted although a part is missing (``JOIN u ON`` with
    no condition, ``GROUP BY`` with nothing after it, ``SELECT a, FROM t``, ``INSERT INTO t``
    with no rows, ``DELETE t``)."""
    creating = isinstance(statement, exp.Create)
    # keywords the parser read as a name or a call (a column named window, left(s, 2))
    names = {
        node.meta["start"] - offset
        for node in statement.find_all(exp.Identifier, exp.Func)
        if node._meta is not None and node._meta.get("start") is not None
    }
    for index, token in enumerate(tokens):
        kind = token.token_type
        if kind == TokenType.ALIAS:
            need = "AS needs a query" if creating else "AS needs a name"
        elif kind == TokenType.SET and isinstance(statement, exp.Update):
            need = "SET needs column = value assignments"
        elif kind in _NEEDS:
            need = _NEEDS[kind]
        else:
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if following is None:
            at = token.end + 1 + offset
            raise error_at(text, at, at + 1, f"{need}, but the statement ends here")
        if following.start not in names and _starts_clause(tokens, index + 1):
            found = f"{need}, found {_quoted(following)}"
            raise error_at(text, *_token_span(following, offset), found)
    if isinstance(statement, exp.Delete) and len(tokens) > 1:
        if tokens[1].token_type != TokenType.FROM:
            found = f"expected FROM after DELETE, found {_quoted(tokens[1])}"
            raise error_at(text, *_token_span(tokens[1], offset), found)
    if isinstance(statement, exp.Insert) and statement.args.get("expression") is None:
        index = 1
        while index < len(tokens) and tokens[index].token_type in _INSERT_KEYWORDS:
            index += 1
        index += 1  # the table's name, dotted parts after it
        while index + 1 < len(tokens) and tokens[index].token_type == TokenType.DOT:
            index += 2
        need = "INSERT needs VALUES or a query"
        if index < len(tokens):
            found = tokens[index]
            raise error_at(text, *_token_span(found, offset), f"{need}, found {_quoted(found)}")
        at = tokens[-1].end + 1 + offset
        raise error_at(text, at, at + 1, f"{need}, but the statement ends here")


#: What may stand between INSERT and the table's name.
_INSERT_KEYWORDS = {TokenType.INTO, TokenType.OVERWRITE, TokenType.TABLE}
