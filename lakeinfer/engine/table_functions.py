"""Table functions evaluated before the query that names them: ``vector_search(...)``,
``ai_forecast(...)``, ``ai_evaluate(...)`` and any other function registered in
:mod:`lakeinfer.engine.extensions` are, in a FROM clause, computed to Arrow tables, registered
under internal relation names for the statement, and the query reads them like any table
(joins, filters, ORDER BY on their columns)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlglot import exp

from lakeinfer.catalog.delta_catalog import Namespace
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.engine.extensions import EXTENSIONS
from lakeinfer.errors import AnalysisError
from lakeinfer.sql import arguments

if TYPE_CHECKING:
    from lakeinfer.engine.query import QueryRunner

_ids = itertools.count()


def function_name(node: exp.Expression | None) -> str | None:
    """The registered table function ``node`` calls, else None."""
    if isinstance(node, exp.VectorSearch):
        name = "vector_search"
    elif isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
    else:
        return None
    return name if EXTENSIONS.table_function(name) is not None else None


def bind(
    function: str,
    node: exp.Expression,
    names: tuple[str, ...],
    required: tuple[str, ...],
) -> dict[str, exp.Expression]:
    """Positional (in ``names`` order) and named (``name => value``) arguments of a call;
    ``required`` are the first names, which must be given. Errors name ``function``, the
    argument and the call's position (see :mod:`lakeinfer.sql.arguments`, whose
    :class:`~lakeinfer.sql.arguments.Signature` also says which arguments must be literals)."""
    assert names[: len(required)] == required, "required arguments come first"
    return arguments.bind(node, arguments.Signature.of(function, names, len(required)))


@contextmanager
def table_functions(
    runner: QueryRunner, query: exp.Expression, namespace: Namespace, ai: AiEvaluator | None
) -> Iterator[exp.Expression]:
    """``query`` with its table function calls replaced by registered results."""
    if not any(function_name(t.this) for t in query.find_all(exp.Table)):
        yield query
        return
    query = query.copy()
    calls = [t for t in query.find_all(exp.Table) if function_name(t.this)]
    # the outermost calls only: an argument's own table functions are its query's business
    calls = [t for t in calls if not any(_inside(t, other) for other in calls if other is not t)]
    registered: list[str] = []
    try:
        for table in calls:
            function = function_name(table.this)
            assert function is not None
            if ai is None:
                raise AnalysisError(f"{function} needs a session")
            data = _evaluate(function, runner, table.this, namespace, ai)
            relation = f"__li_tf{next(_ids)}"
            runner.con.register(relation, data)
            registered.append(relation)
            alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(function))
            replacement = exp.Table(this=exp.to_identifier(relation, quoted=True), alias=alias)
            for key in ("joins", "laterals"):
                if table.args.get(key):
                    replacement.set(key, table.args[key])
            table.replace(replacement)
        yield query
    finally:
        for relation in registered:
            runner.con.unregister(relation)


def _inside(node: exp.Expression, ancestor: exp.Expression) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False


def _evaluate(
    function: str,
    runner: QueryRunner,
    node: exp.Expression,
    namespace: Namespace,
    ai: AiEvaluator,
):
    registered = EXTENSIONS.table_function(function)
    assert registered is not None, "function_name only names registered functions"
    return registered.evaluate(runner, node, namespace, ai)
