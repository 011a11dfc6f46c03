"""Column expressions for the DataFrame-style API, with PySpark's names.

    >>> from lakeinfer import functions as F
    >>> F.expr("ai_query('my-llm', 'Summarize: ' || text)").alias("summary")    # doctest: +SKIP

A :class:`Column` is a SQL expression (Databricks dialect); it is evaluated by the same engine
as :meth:`lakeinfer.Session.sql`, so ``ai_query`` and friends behave exactly as in SQL.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from lakeinfer.errors import AnalysisError, SqlSyntaxError

__all__ = ["Column", "col", "column", "expr", "lit"]


class Column:
    """One SQL expression, optionally named with :meth:`alias`."""

    def __init__(self, expression: exp.Expression):
        self.expression = expression

    def alias(self, name: str) -> Column:
        """The same expression under the output name ``name``."""
        inner = self.expression.this if isinstance(self.expression, exp.Alias) else self.expression
        return Column(exp.alias_(inner.copy(), name, quoted=True))

    name = alias

    def sql(self) -> str:
        """The expression as Databricks SQL text."""
        return self.expression.sql(dialect="databricks")

    def __repr__(self) -> str:
        return f"Column<{self.sql()!r}>"


def expr(text: str) -> Column:
    """A column from SQL text, e.g. ``expr("ai_query('my-llm', text)")``."""
    from lakeinfer.sql.parse import parse_expression

    try:
        parsed = parse_expression(text)
    except SqlSyntaxError as exc:
        raise SqlSyntaxError(
            f"in expr({text!r}): {exc.problem}", exc.line, exc.column, exc.snippet
        ) from None
    if parsed is None:
        raise AnalysisError(f"expr() takes one SQL expression, got {text!r}")
    return Column(parsed)


def col(name: str) -> Column:
    """The column ``name`` (``a`` or ``t.a``)."""
    if not name or not isinstance(name, str):
        raise AnalysisError(f"col() takes a column name, got {name!r}")
    return Column(exp.column(*reversed(name.split(".")), quoted=False))


column = col


def lit(value: Any) -> Column:
    """A constant (string, number, boolean or None)."""
    if value is None:
        return Column(exp.null())
    if isinstance(value, bool):
        return Column(exp.Boolean(this=value))
    if isinstance(value, (int, float)):
        return Column(exp.Literal.number(value))
    if isinstance(value, str):
        return Column(exp.Literal.string(value))
    raise AnalysisError(
        f"lit() takes a string, number, boolean or None, got {type(value).__name__}"
    )


def to_expression(item: Column | str) -> exp.Expression:
    """A ``select`` argument as an expression: a :class:`Column`, a name, or ``"*"``."""
    if isinstance(item, Column):
        return item.expression
    if isinstance(item, str):
        return exp.Star() if item == "*" else col(item).expression
    raise AnalysisError(f"select() takes column names or Columns, got {type(item).__name__}")
