"""What features add to the SQL engine: table functions and statement kinds.

The engine knows its own statements (DDL, DML, queries, catalog commands); everything else
(``vector_search``, ``ai_forecast``, ``CREATE VECTOR INDEX``, ``CREATE STREAMING TABLE``, ...)
is registered here by the feature that implements it, so the engine never imports a feature;
so is what ``session.readStream`` returns.
:mod:`lakeinfer.features` registers the built-in ones; a package can add its own under the
``lakeinfer.extensions`` entry point group (a callable taking this module's
:class:`Extensions`), loaded the first time the engine meets a table function or a statement
it does not know::

    [project.entry-points."lakeinfer.extensions"]
    my-functions = "my_package:register"

A table function is called in a FROM clause (``SELECT * FROM my_fn(TABLE(t), 3)``); its handler
gets the query runner, the call's node, the current namespace and the AI evaluator, and returns
an Arrow table the query then reads like any table. A table function whose arguments may
refer to the columns of an earlier table of the FROM clause, inside ``LATERAL`` (as
``vector_search``'s ``query_text`` may), also registers a *correlated* handler: it gets the
distinct values of those arguments at once (see :mod:`lakeinfer.engine.table_functions`) and
answers them all in one go. A statement kind has its grammar (functions
that parse the statement into its own node in the ``lakeinfer`` SQL dialect, see
:mod:`lakeinfer.sql.dialect`), the node classes it runs (or a matcher: is this parsed statement
mine?) and a handler returning the statement's result. A statement without a grammar reaches
its matcher as a :class:`sqlglot.exp.Command`, whose words :func:`command_words` gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from sqlglot import exp

from lakeinfer.sql import dialect
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
#: (runner, call, namespace, AI evaluator, keys): the call's rows for every row of ``keys``
#: (the distinct values of its correlated arguments), each result row with its key row's number
CorrelatedHandler = Callable[
    ["QueryRunner", exp.Expression, "Namespace", "AiEvaluator", "pa.Table"], "pa.Table"
]
StatementHandler = Callable[["StatementExecutor", exp.Expression, "AiEvaluator"], "StatementResult"]
#: What a statement kind runs: statements of these node classes, or those a function accepts.
StatementMatch = (
    type[exp.Expression] | tuple[type[exp.Expression], ...] | Callable[[exp.Expression], bool]
)


@dataclass(frozen=True)
class TableFunction:
    """A table function: its (lower-case) name and what computes its rows."""

    name: str
    evaluate: TableFunctionHandler
    #: computes its rows for many values of its correlated arguments (None: it has none)
    correlated: CorrelatedHandler | None = None


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
        self._loaders: list[Callable[[], bool]] = []
        self._stream_reader: Callable[..., object] | None = None

    def add_table_function(
        self,
        name: str,
        evaluate: TableFunctionHandler,
        correlated: CorrelatedHandler | None = None,
    ) -> None:
        """Make ``name(...)`` in a FROM clause call ``evaluate`` (replacing an earlier one);
        ``correlated``: the handler for calls inside ``LATERAL`` whose arguments refer to
        columns of the tables before it (without one, such arguments are an error)."""
        key = name.lower()
        self._functions[key] = TableFunction(key, evaluate, correlated)

    def add_statement(
        self,
        name: str,
        matches: StatementMatch,
        execute: StatementHandler,
        syntax: Iterable[tuple[str, dialect.Grammar]] = (),
    ) -> None:
        """Run statements ``matches`` accepts with ``execute``; checked in registration order,
        before the engine's own statements.

        ``matches`` is a node class (or a tuple of them) or a function of the parsed
        statement. ``syntax`` gives the statement's grammar: pairs of a first word and a
        function parsing what follows it into the statement's node (see
        :func:`lakeinfer.sql.dialect.add_statement_syntax`)."""
        if isinstance(matches, (type, tuple)):
            classes = matches
            test: Callable[[exp.Expression], bool] = lambda s: isinstance(s, classes)  # noqa: E731
        else:
            test = matches
        for word, grammar in syntax:
            dialect.add_statement_syntax(word, grammar, owner=name)
        self._statements[name] = StatementKind(name, test, execute)

    def add_loader(self, loader: Callable[[], bool]) -> None:
        """Call ``loader`` when a table function or a statement is not known: it registers
        more extensions (those of installed packages) and says whether it found any new.
        The parser calls it too, for a statement no grammar reads."""
        self._loaders.append(loader)
        dialect.add_syntax_loader(loader)

    def load_more(self) -> bool:
        """Run the loaders; whether any registered something new."""
        return any([loader() for loader in self._loaders])

    def remove(self, name: str) -> None:
        """Forget the table function or statement kind called ``name`` (and its grammar)."""
        self._functions.pop(name.lower(), None)
        if self._statements.pop(name, None) is not None:
            dialect.remove_statement_syntax(name)

    def table_function(self, name: str) -> TableFunction | None:
        """The table function called ``name``, looking in installed packages once more when
        it is not registered."""
        found = self._functions.get(name.lower())
        if found is None and self.load_more():
            found = self._functions.get(name.lower())
        return found

    def statement_kind(
        self, statement: exp.Expression, *, look_further: bool = False
    ) -> StatementKind | None:
        """The registered kind that handles ``statement``, if any; ``look_further``: also
        look in installed packages not loaded yet (for a statement nothing else runs)."""
        for kind in self._statements.values():
            if kind.matches(statement):
                return kind
        if look_further and self.load_more():
            return self.statement_kind(statement)
        return None

    def set_stream_reader(self, factory: Callable[..., object]) -> None:
        """Make ``session.readStream`` return ``factory(session)``."""
        self._stream_reader = factory

    def stream_reader(self) -> Callable[..., object] | None:
        """What builds ``session.readStream`` (None: no streaming feature registered)."""
        return self._stream_reader


#: The engine's extensions (one per process, as the features are).
EXTENSIONS = Extensions()
#: Modules whose ``load()`` registers the features lakeinfer ships. They are loaded by name,
#: as a plugin is, so that neither the engine nor the session imports a feature.
BUILTIN_MODULES = ("lakeinfer.features",)


def load_builtins() -> Extensions:
    """Register the features lakeinfer ships (each module's ``load()`` runs once)."""
    for module in BUILTIN_MODULES:
        import_module(module).load()
    return EXTENSIONS


def command_words(statement: exp.Command) -> list[str]:
    """The words of a statement no grammar reads, kept as a command, as tokenised
    (``REFRESH``, ``WORD``, ``COUNTS``, ...)."""
    rest = statement.expression
    if isinstance(rest, exp.Expression):
        rest = rest.name
    return [str(statement.this)] + [t.text for t in tokenize(rest or "")]
