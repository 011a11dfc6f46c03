"""What features add to the SQL engine: table functions and statement kinds.

The engine knows its own statements (DDL, DML, queries, catalog commands); everything else
(``vector_search``, ``ai_forecast``, ``CREATE VECTOR INDEX``, ``CREATE STREAMING TABLE``, ...)
is registered here by the feature that implements it, so the engine never imports a feature.
:mod:`lakeinfer.features` registers the built-in ones; a package can add its own under the
``lakeinfer.extensions`` entry point group (a callable taking this module's
:class:`Extensions`)::

    [project.entry-points."lakeinfer.extensions"]
    my-functions = "my_package:register"

A table function is called in a FROM clause (``SELECT * FROM my_fn(TABLE(t), 3)``); its handler
gets the query runner, the call's node, the current namespace and the AI evaluator, and returns
an Arrow table the query then reads like any table. A statement kind has a matcher (is this
parsed statement mine?) and a handler returning the statement's result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from lakeinfer.sql.parse import tokenize

if TYPE_CHECKING:
    import pyarrow as pa

    from lakeinfer.catalog.delta_catalog import Namespace
    from lakeinfer.engine.ai_eval import AiEvaluator
    from lakeinfer.engine.query import QueryRunner
    from lakeinfer.engine.statements import StatementExecutor, StatementResult

#: The entry point group third-party packages register engine extensions under.
GROUP = "lakeinfer.extensions"

TableFunctionHandler = Callable[
    ["QueryRunner", exp.Expression, "Namespace", "AiEvaluator"], "pa.Table"
]
StatementHandler = Callable[["StatementExecutor", exp.Expression, "AiEvaluator"], "StatementResult"]


@dataclass(frozen=True)
class TableFunction:
    """A table function: its (lower-case) name and what computes its rows."""

    name: str
    evaluate: TableFunctionHandler


@dataclass(frozen=True)
class StatementKind:
    """A statement the engine does not know itself: ``matches`` says whether a parsed
    statement is one, ``execute`` runs it."""

    name: str
    matches: Callable[[exp.Expression], bool]
    execute: StatementHandler


class Extensions:
    """The table functions and statement kinds registered with the engine."""

    def __init__(self) -> None:
        self._functions: dict[str, TableFunction] = {}
        self._statements: dict[str, StatementKind] = {}

    def add_table_function(self, name: str, evaluate: TableFunctionHandler) -> None:
        """Make ``name(...)`` in a FROM clause call ``evaluate`` (replacing an earlier one)."""
        key = name.lower()
        self._functions[key] = TableFunction(key, evaluate)

    def add_statement(
        self, name: str, matches: Callable[[exp.Expression], bool], execute: StatementHandler
    ) -> None:
        """Run statements ``matches`` accepts with ``execute``; checked in registration order,
        before the engine's own statements."""
        self._statements[name] = StatementKind(name, matches, execute)

    def remove(self, name: str) -> None:
        """Forget the table function or statement kind called ``name``."""
        self._functions.pop(name.lower(), None)
        self._statements.pop(name, None)

    def table_function(self, name: str) -> TableFunction | None:
        return self._functions.get(name.lower())

    def statement_kind(self, statement: exp.Expression) -> StatementKind | None:
        """The registered kind that handles ``statement``, if any."""
        for kind in self._statements.values():
            if kind.matches(statement):
                return kind
        return None


#: The engine's extensions (one per process, as the features are).
EXTENSIONS = Extensions()


def command_words(statement: exp.Command) -> list[str]:
    """The words of a statement sqlglot keeps as a command, as tokenised (``CREATE``,
    ``VECTOR``, ``INDEX``, ...)."""
    rest = statement.expression
    if isinstance(rest, exp.Expression):
        rest = rest.name
    return [str(statement.this)] + [t.text for t in tokenize(rest or "")]
