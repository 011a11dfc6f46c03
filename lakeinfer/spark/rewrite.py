"""Rewrite SQL text so each AI call names the Spark function registered for its signature.

Only the function names change: the rest of the text reaches Spark exactly as written. Each
call is located with sqlglot's tokenizer, bound with the same rules as the embedded engine
(:func:`lakeinfer.sql.functions.bind_ai_query`: literal endpoint, returnType and failOnError,
constant modelParameters, valid responseFormat), and renamed by ``name_for``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlglot import exp
from sqlglot.dialects import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.functions import AiQueryCall, bind_ai_query
from lakeinfer.sql.parse import parse_expression
from lakeinfer.sql.syntax import error_at, tokenize_failure
from lakeinfer.sql.task_functions import TASK_FUNCTIONS, normalize

NameFor = Callable[[AiQueryCall], str]
#: the functions the rewrite binds and renames
CALLS = ("ai_query", *TASK_FUNCTIONS)


def rewrite_ai_calls(text: str, name_for: NameFor, functions: Collection[str] = CALLS) -> str:
    """``text`` with every call of ``functions`` (``ai_query`` and the task functions) renamed
    to ``name_for(bound call)``."""
    dialect = Dialect.get_or_raise("databricks")
    try:
        tokens = dialect.tokenize(text)
    except TokenError:
        raise tokenize_failure(text) from None
    edits: list[tuple[int, int, str]] = []
    for index, token in enumerate(tokens[:-1]):
        function = token.text.lower()
        if function not in functions or tokens[index + 1].token_type != TokenType.L_PAREN:
            continue
        close = _closing(tokens, index + 1)
        if close is None:
            raise error_at(text, token.start, token.end + 1, f"{function}( has no closing ')'")
        parsed = parse_expression(text, token.start, tokens[close].end + 1)
        node = None
        if parsed is not None and parsed.parent is not None:
            select = parsed.parent
            normalize(select)  # sqlglot's typed nodes (ai_classify, ...) back to plain calls
            node = select.expressions[0]
        if not isinstance(node, exp.Anonymous):
            raise AnalysisError(f"{function} at line {token.line}: not a function call")
        node.meta.pop("line", None)  # positions are the substring's; the real ones follow
        node.meta.pop("col", None)
        try:
            call = bind_ai_query(node)
        except AnalysisError as exc:
            where = f" at line {token.line}, column {token.col - len(token.text) + 1}"
            raise AnalysisError(
                str(exc).replace(f"{function}:", f"{function}{where}:", 1)
            ) from None
        edits.append((token.start, token.end + 1, name_for(call)))
    for start, end, name in reversed(edits):
        text = text[:start] + name + text[end:]
    return text


def _closing(tokens: list, open_index: int) -> int | None:
    depth = 0
    for index in range(open_index, len(tokens)):
        kind = tokens[index].token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                return index
    return None
