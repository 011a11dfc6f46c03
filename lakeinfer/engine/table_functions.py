"""Table functions evaluated before the query that names them: ``vector_search(...)``,
``ai_forecast(...)``, ``ai_evaluate(...)`` and any other function registered in
:mod:`lakeinfer.engine.extensions` are, in a FROM clause, computed to Arrow tables, registered
under internal relation names for the statement, and the query reads them like any table
(joins, filters, ORDER BY on their columns).

Inside ``LATERAL``, a table function registered with a correlated handler may take arguments
that refer to the columns of the tables before it::

    SELECT q.query_txt, s.* FROM query_table q,
      LATERAL (SELECT * FROM vector_search(index => 'idx', query_text => q.query_txt)) AS s

The distinct values of those arguments over the tables before the ``LATERAL`` are computed
first, the handler answers them all at once into one relation that carries each value as a
key column, and the call becomes a subquery of that relation filtered on the key equal to the
outer row's value, so the ``LATERAL`` joins each outer row to its own rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlglot import exp

from lakeinfer.catalog.delta_catalog import Namespace
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.engine.extensions import EXTENSIONS, TableFunction
from lakeinfer.errors import AnalysisError
from lakeinfer.sql import arguments
from lakeinfer.sql.parse import position_of

if TYPE_CHECKING:
    import pyarrow as pa

    from lakeinfer.engine.query import QueryRunner

_ids = itertools.count()
#: the key columns of a correlated call's relation, one per correlated argument
KEY = "__li_key{}"
#: the column of a correlated handler's result that names the key row a result row answers
ROW = "__li_row"


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
    if not any(function_name(t.this) for t in query.find_all(exp.Table, exp.Lateral)):
        yield query
        return
    query = _lateral_calls_as_subqueries(query.copy())
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
            entry = EXTENSIONS.table_function(function)
            assert entry is not None, "function_name only names registered functions"
            relation = f"__li_tf{next(_ids)}"
            alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(function))
            outer = _outer_arguments(table.this) if entry.correlated is not None else []
            if outer:
                data = _correlated(entry, runner, table, outer, namespace, ai)
                replacement: exp.Expression = _keyed_subquery(relation, outer, alias)
            else:
                data = entry.evaluate(runner, table.this, namespace, ai)
                replacement = exp.Table(this=exp.to_identifier(relation, quoted=True), alias=alias)
            runner.con.register(relation, data)
            registered.append(relation)
            for key in ("joins", "laterals"):
                if table.args.get(key):
                    replacement.set(key, table.args[key])
            table.replace(replacement)
        yield query
    finally:
        for relation in registered:
            runner.con.unregister(relation)


def _lateral_calls_as_subqueries(query: exp.Expression) -> exp.Expression:
    """``LATERAL f(...) AS s`` as ``LATERAL (SELECT * FROM f(...)) AS s``."""
    for lateral in list(query.find_all(exp.Lateral)):
        call = lateral.this
        if not lateral.args.get("view") and function_name(call):
            select = exp.select("*").from_(exp.Table(this=call.copy()))
            call.replace(exp.Subquery(this=select))
    return query


def _outer_arguments(node: exp.Expression) -> list[exp.Expression]:
    """The argument values of a call that refer to columns (of the tables before it)."""
    values = []
    for argument in arguments.call_arguments(node):
        value = (
            argument.expression if isinstance(argument, (exp.Kwarg, exp.PropertyEQ)) else argument
        )
        if any(_own_column(c, value) for c in value.find_all(exp.Column)):
            values.append(value)
    return values


def _own_column(column: exp.Column, value: exp.Expression) -> bool:
    """Whether ``column`` belongs to ``value`` itself, not to a subquery inside it."""
    node: exp.Expression | None = column
    while node is not None and node is not value:
        if isinstance(node, (exp.Query, exp.Subquery)):
            return False
        node = node.parent
    return True


def _lateral_scope(table: exp.Table) -> tuple[exp.Select, exp.Join] | None:
    """The query and the join of ``... , LATERAL (SELECT * FROM f(...))`` that ``table``
    (the call) is in, else None."""
    inner = table.parent.parent if isinstance(table.parent, exp.From) else None
    subquery = inner.parent if isinstance(inner, exp.Select) else None
    lateral = subquery.parent if isinstance(subquery, exp.Subquery) else None
    join = lateral.parent if isinstance(lateral, exp.Lateral) else None
    outer = join.parent if isinstance(join, exp.Join) else None
    if isinstance(outer, exp.Select) and outer.args.get("from_") is not None:
        return outer, join
    return None


def _correlated(
    entry: TableFunction,
    runner: QueryRunner,
    table: exp.Table,
    outer: list[exp.Expression],
    namespace: Namespace,
    ai: AiEvaluator,
) -> pa.Table:
    """The call's rows for every distinct value of its ``outer`` arguments, with those values
    as the key columns; the call's ``outer`` arguments are left replaced by the key columns."""
    scope = _lateral_scope(table)
    if scope is None:
        columns = sorted(
            {c.sql(dialect="databricks") for v in outer for c in v.find_all(exp.Column)}
        )
        raise AnalysisError(
            f"{entry.name}{position_of(table.this)}: its arguments refer to columns "
            f"({', '.join(columns)}); call it inside LATERAL after the table that has them: "
            f"FROM t, LATERAL (SELECT * FROM {entry.name}(...)) AS s"
        )
    select, join = scope
    joins = select.args.get("joins") or []
    before = joins[: next(i for i, j in enumerate(joins) if j is join)]
    keys_query = (
        exp.select(*(exp.alias_(v.copy(), KEY.format(i)) for i, v in enumerate(outer)))
        .distinct()
        .from_(select.args["from_"].this.copy())
    )
    keys_query.set("joins", [j.copy() for j in before])
    filters = _filters_on(select, [select.args["from_"].this, *(j.this for j in before)])
    if filters:
        keys_query.set("where", exp.Where(this=exp.and_(*(f.copy() for f in filters))))
    ctes = [c.copy() for s in _with_scopes(select) for c in s.args["with_"].expressions]
    if ctes:
        keys_query.set("with_", exp.With(expressions=ctes))
    keys = runner.run(keys_query, namespace, ai)
    for index, value in enumerate(outer):
        value.replace(exp.column(KEY.format(index)))
    assert entry.correlated is not None
    result = entry.correlated(runner, table.this, namespace, ai, keys)
    rows = result.column(ROW)
    result = result.drop_columns([ROW])
    for name in keys.column_names:
        result = result.append_column(name, keys.column(name).take(rows))
    return result


def _filters_on(select: exp.Select, tables: list[exp.Expression]) -> list[exp.Expression]:
    """The conditions of ``select``'s WHERE (ANDed) that only read columns of ``tables``, named
    by their alias, and call no function of lakeinfer's: they may filter the tables before a
    LATERAL call, so that rows the query drops do not pay for a search."""
    where = select.args.get("where")
    if where is None:
        return []
    names = {t.alias_or_name.lower() for t in tables}
    found = []
    for condition in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        columns = list(condition.find_all(exp.Column))
        if (
            columns
            and all(c.table and c.table.lower() in names for c in columns)
            and condition.find(exp.Query, exp.Subquery, exp.Anonymous) is None
            and not any(
                f.sql_name().lower().startswith("ai_") for f in condition.find_all(exp.Func)
            )
        ):
            found.append(condition)
    return found


def _with_scopes(select: exp.Expression) -> list[exp.Expression]:
    """``select`` and the queries around it that have a WITH clause, innermost last."""
    found = []
    node: exp.Expression | None = select
    while node is not None:
        if isinstance(node, exp.Query) and node.args.get("with_") is not None:
            found.append(node)
        node = node.parent
    return found[::-1]


def _keyed_subquery(
    relation: str, outer: list[exp.Expression], alias: exp.TableAlias
) -> exp.Subquery:
    """``(SELECT * EXCEPT (keys) FROM relation WHERE key0 = <outer value 0> AND ...)``: the
    rows of the outer row's own values."""
    keys = [KEY.format(i) for i in range(len(outer))]
    table = exp.to_identifier(relation, quoted=True)
    condition = exp.and_(
        *(
            exp.EQ(this=exp.column(key, table=table.copy()), expression=value.copy())
            for key, value in zip(keys, outer, strict=True)
        )
    )
    star = exp.Star(except_=[exp.column(key) for key in keys])
    select = exp.select(star).from_(exp.Table(this=table)).where(condition)
    return exp.Subquery(this=select, alias=alias)


def _inside(node: exp.Expression, ancestor: exp.Expression) -> bool:
    parent = node.parent
    while parent is not None:
        if parent is ancestor:
            return True
        parent = parent.parent
    return False
