"""Pure AST rewrites that prepare a query for DuckDB: table names and AI-call staging.

Table names: ``c.s.t`` (or ``t`` / ``s.t`` in the current namespace) becomes an internal relation
registered from the Delta table; CTE names are left alone. DuckDB never sees the user's catalog
names, so ``main`` and ``system`` work although DuckDB reserves them.

AI staging (the common shape, ``SELECT ..., ai_query(...) ... FROM ... [WHERE] [ORDER BY]
[LIMIT]``): the query runs first *without* its AI calls. Every AI call in the projection list
is replaced by a placeholder, and every maximal AI-free value inside an AI-bearing projection
(the request text, other columns around the call) is computed as a hidden column. So LIMIT,
WHERE and ORDER BY decide exactly which rows exist before any model is called, and each AI call
is later evaluated once per distinct request over that small staged table, inner calls first.
Shapes that cannot be staged this way (AI calls in WHERE, GROUP BY, ORDER BY, aggregates,
subqueries, DISTINCT) are returned as ``None``; the executor then binds AI calls as DuckDB
functions that batch and memoise their requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot import exp, parse_one

from lakeinfer.catalog.delta_catalog import (
    DeltaCatalog,
    Namespace,
    TableName,
    TableRef,
    ViewDefinition,
)
from lakeinfer.errors import AnalysisError
from lakeinfer.sql.functions import AiQueryCall, bind_ai_query, is_ai_query
from lakeinfer.sql.read_files import is_read_files, translate_read_files

if TYPE_CHECKING:
    from lakeinfer.engine.sandbox import SqlSandbox

#: relations the engine registers itself (never a lakehouse table) start with this
INTERNAL = "__li_"
PLACEHOLDER = "__li_p{}"
HIDDEN = "__li_x{}"
RESULT = "__li_a{}"

_HOISTABLE = (
    exp.Column,
    exp.Func,
    exp.Binary,
    exp.Unary,
    exp.Case,
    exp.Paren,
    exp.Subquery,
    exp.Bracket,
    exp.Dot,
    exp.Window,
)
_NO_STAGING_ABOVE = (exp.AggFunc, exp.Window, exp.Subquery, exp.Select, exp.Lambda)


ViewLookup = Callable[[TableName], ViewDefinition | None]
#: Inlines SQL function calls in a tree (in place), resolving names in a namespace.
FunctionInlining = Callable[[exp.Expression, Namespace], exp.Expression]
MAX_VIEW_DEPTH = 32


def rewrite_tables(
    tree: exp.Expression,
    namespace: Namespace,
    views: ViewLookup | None = None,
    _depth: int = 0,
    *,
    sandbox: SqlSandbox | None = None,
    functions: FunctionInlining | None = None,
) -> tuple[exp.Expression, dict[str, TableRef]]:
    """Replace lakehouse table references with internal relation names.

    Views (found through ``views``) are expanded in place as subqueries, resolved in the
    namespace they were created in. Time travel (``VERSION AS OF`` / ``TIMESTAMP AS OF``)
    names a snapshot of its own. Returns the rewritten copy and ``{relation: TableRef}`` for
    the executor to register. ``sandbox``: where ``read_files`` may look (None: anywhere).
    ``functions`` inlines SQL function calls, in the query and in each view's body.
    """
    if _depth > MAX_VIEW_DEPTH:
        raise AnalysisError(
            f"views nest more than {MAX_VIEW_DEPTH} deep (a view refers to itself?)"
        )
    tree = tree.copy()
    if tree.find(exp.Stream) is not None:
        raise AnalysisError(
            "STREAM(t) reads a table as a stream only in a streaming table's definition "
            "(CREATE STREAMING TABLE ... AS SELECT ... FROM STREAM(t)); in a query, read t"
        )
    if functions is not None:
        tree = functions(tree, namespace)
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    relations: dict[str, TableRef] = {}
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, exp.Func):
            if is_read_files(table.this):
                table.set("this", translate_read_files(table.this, sandbox))
            _name_range_column(table)
            continue
        if not table.name:
            continue
        parts = [p.name for p in table.parts]
        if len(parts) == 1 and (parts[0].lower() in cte_names or parts[0].startswith(INTERNAL)):
            continue
        name = DeltaCatalog.qualify(parts, namespace)
        alias = table.args.get("alias")
        if isinstance(alias, exp.TableAlias) and isinstance(alias.this, exp.Parameter):
            raise AnalysisError(
                f"{table.name}@{alias.this.this.name}: the @ shorthand of time travel is not "
                f"supported; write {name} VERSION AS OF n or {name} TIMESTAMP AS OF '...'"
            )
        if alias is None:
            # keep `t.col` / `schema.t.col` style references working
            alias = exp.TableAlias(this=exp.to_identifier(table.name))
        view = views(name) if views is not None else None
        if view is not None:
            if table.args.get("version") is not None:
                raise AnalysisError(f"{name} is a view: time travel needs a table")
            body = parse_one(view.sql, read="databricks")
            body, inner = rewrite_tables(
                body,
                Namespace(view.catalog, view.schema),
                views,
                _depth + 1,
                sandbox=sandbox,
                functions=functions,
            )
            relations.update(inner)
            replacement: exp.Expression = exp.Subquery(this=body, alias=alias.copy())
        else:
            ref = _table_ref(name, table.args.get("version"))
            relations[ref.relation] = ref
            replacement = exp.Table(
                this=exp.to_identifier(ref.relation, quoted=True), alias=alias.copy()
            )
            for key in ("joins", "laterals", "pivots", "hints"):
                if table.args.get(key):
                    replacement.set(key, table.args[key])
        table.replace(replacement)
    if _depth == 0:  # in views too: the session's namespace, as on Databricks
        _current_namespace(tree, namespace)
    return tree, relations


_CURRENT = {
    exp.CurrentCatalog: "current_catalog()",
    exp.CurrentSchema: "current_schema()",
    exp.CurrentDatabase: "current_database()",
}


def _current_namespace(tree: exp.Expression, namespace: Namespace) -> None:
    """``current_catalog()`` and ``current_schema()`` / ``current_database()`` give the
    lakehouse's namespace (DuckDB's own would say ``memory`` and ``main``), named as Spark
    names them."""
    for node in list(tree.find_all(*_CURRENT)):
        value = namespace.catalog if isinstance(node, exp.CurrentCatalog) else namespace.schema
        literal = exp.Literal.string(value)
        if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
            literal = exp.alias_(literal, _CURRENT[type(node)], quoted=True)
        node.replace(literal)


def _table_ref(name: TableName, version: exp.Expression | None) -> TableRef:
    if version is None:
        return TableRef(name)
    kind = version.name.upper()
    value = version.expression
    if kind == "VERSION":
        if not (isinstance(value, exp.Literal) and not value.is_string and value.name.isdigit()):
            raise AnalysisError(f"VERSION AS OF needs a version number, got {value.sql()}")
        return TableRef(name, version=int(value.name))
    if not isinstance(value, exp.Literal):
        raise AnalysisError(f"TIMESTAMP AS OF needs a constant timestamp, got {value.sql()}")
    return TableRef(name, timestamp=value.name)


def _name_range_column(table: exp.Table) -> None:
    """Databricks' ``range(...)`` yields a column ``id`` (DuckDB's is called ``range``)."""
    if table.this.name.lower() != "range":
        return
    alias = table.args.get("alias")
    if alias is not None and alias.columns:
        return
    name = alias.name if alias is not None and alias.name else "range"
    table.set(
        "alias", exp.TableAlias(this=exp.to_identifier(name), columns=[exp.to_identifier("id")])
    )


def ai_calls(tree: exp.Expression) -> list[exp.Expression]:
    """Every ``ai_query`` node in ``tree``."""
    return [node for node in tree.find_all(exp.Anonymous) if is_ai_query(node)]


@dataclass
class StagedCall:
    """One AI call evaluated over the staged table: ``request`` is an expression over hidden
    columns and earlier results; its answers become column ``result_column``."""

    index: int
    call: AiQueryCall
    request: exp.Expression

    @property
    def result_column(self) -> str:
        return RESULT.format(self.index)


@dataclass
class StagedOutput:
    """An AI-bearing projection: which placeholder it fills, its name, its expression."""

    placeholder: str
    name: str
    expression: exp.Expression


@dataclass
class StagedSelect:
    """The plan for the common shape; see the module docstring."""

    base: exp.Expression
    hidden: list[str]
    calls: list[StagedCall] = field(default_factory=list)
    outputs: list[StagedOutput] = field(default_factory=list)


def stage_select(query: exp.Expression) -> StagedSelect | None:
    """Plan ``query`` for staged AI evaluation, or ``None`` if its shape needs the fallback."""
    if not isinstance(query, exp.Select) or query.args.get("distinct"):
        return None
    nodes = ai_calls(query)
    if not nodes:
        return None
    projections = query.expressions
    ai_positions = [i for i, p in enumerate(projections) if any(True for _ in _ai_in(p))]
    if sum(len(list(_ai_in(projections[i]))) for i in ai_positions) != len(nodes):
        return None  # an AI call outside the projection list
    for node in nodes:
        if _under_blocker(node, query):
            return None
    ai_aliases = {
        projections[i].alias_or_name.lower() for i in ai_positions if projections[i].alias
    }
    if _references_ai_output(query, ai_aliases, ai_positions):
        return None

    base = query.copy()
    hidden: list[str] = []
    plan = StagedSelect(base=base, hidden=hidden)

    def hoist(node: exp.Expression) -> exp.Expression:
        name = HIDDEN.format(len(hidden))
        hidden.append(name)
        base.append("expressions", exp.alias_(node.copy(), name, quoted=True))
        return exp.column(name, quoted=True)

    new_projections = []
    for i, projection in enumerate(projections):
        if i not in ai_positions:
            new_projections.append(projection.copy())
            continue
        placeholder = PLACEHOLDER.format(i)
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        expression = _split(inner, hoist, plan)
        name = (
            projection.alias
            if isinstance(projection, exp.Alias)
            else inner.sql(dialect="databricks")
        )
        plan.outputs.append(StagedOutput(placeholder, name, expression))
        new_projections.append(exp.alias_(exp.Null(), placeholder, quoted=True))
    # projections first (in order), hidden columns after them
    base.set("expressions", new_projections + base.expressions[len(projections) :])
    return plan


def _split(
    node: exp.Expression, hoist: Callable[[exp.Expression], exp.Expression], plan: StagedSelect
) -> exp.Expression:
    if is_ai_query(node):
        call = bind_ai_query(node)
        request = _split(call.request, hoist, plan)
        staged = StagedCall(index=len(plan.calls), call=call, request=request)
        plan.calls.append(staged)
        return exp.column(staged.result_column, quoted=True)
    if not any(True for _ in _ai_in(node)):
        return hoist(node) if isinstance(node, _HOISTABLE) else node.copy()
    new = node.copy()
    for key, value in node.args.items():
        if isinstance(value, exp.Expression):
            new.set(key, _split(value, hoist, plan))
        elif isinstance(value, list):
            new.set(
                key, [_split(v, hoist, plan) if isinstance(v, exp.Expression) else v for v in value]
            )
    return new


def _ai_in(node: exp.Expression):
    if is_ai_query(node):
        yield node
    for child in node.find_all(exp.Anonymous):
        if child is not node and is_ai_query(child):
            yield child


def _under_blocker(node: exp.Expression, query: exp.Select) -> bool:
    parent = node.parent
    while parent is not None and parent is not query:
        if isinstance(parent, _NO_STAGING_ABOVE):
            return True
        parent = parent.parent
    return parent is None


def _references_ai_output(query: exp.Select, aliases: set[str], positions: list[int]) -> bool:
    for clause in ("order", "group", "having", "qualify"):
        part = query.args.get(clause)
        if part is None:
            continue
        for column in part.find_all(exp.Column):
            if not column.table and column.name.lower() in aliases:
                return True
        for literal in part.find_all(exp.Literal):
            if (
                not literal.is_string
                and literal.this.isdigit()
                and int(literal.this) - 1 in positions
            ):
                return True
    return False
