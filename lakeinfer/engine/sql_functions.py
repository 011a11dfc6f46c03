"""SQL functions: ``CREATE [TEMPORARY] FUNCTION f(x STRING) RETURNS STRING RETURN expr``.

A function's body is one expression over its parameters. Calls are *inlined* while a query is
planned: ``f(col)`` becomes ``CAST(<body with x replaced by CAST(col AS STRING)> AS STRING)``, so
an ``ai_query`` inside a function is planned like one written in the query (LIMIT decides the
rows before any model call, equal requests are sent once, answers are cached). Persistent
functions live in the catalog under three-part names; temporary ones in the session. Unqualified
names resolve as on Databricks: a built-in function first, then a temporary function, then a
function of the current schema. A function calling itself, directly or through others, is an
error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import pyarrow as pa
from sqlglot import exp, parse_one

from lakeinfer.catalog.delta_catalog import (
    DeltaCatalog,
    FunctionDefinition,
    Namespace,
    TableName,
)
from lakeinfer.catalog.names import check_name
from lakeinfer.errors import AnalysisError, SqlError
from lakeinfer.sql import dialect
from lakeinfer.sql.function_list import NAMES
from lakeinfer.sql.parse import position_of
from lakeinfer.sql.types import CAST_ERRORS, ddl_to_arrow

#: The error class of an argument whose value cannot become its parameter's type.
CAST_INVALID_INPUT = "[CAST_INVALID_INPUT]"
#: How deep functions may call functions (a deeper chain is almost surely a cycle).
MAX_DEPTH = 32
_BUILTINS = frozenset(NAMES)

#: Describes a function's body: (parameters' names and types, body SQL) -> its result type.
BodyTyper = Callable[[FunctionDefinition], str]


def definition(
    statement: exp.Create, namespace: Namespace
) -> tuple[list[str], bool, FunctionDefinition]:
    """The name parts, whether it is temporary, and the definition of a ``CREATE FUNCTION``
    (its return type is the declared one, or ``""`` to be derived from the body)."""
    udf = statement.this
    if not isinstance(udf, exp.UserDefinedFunction) or not isinstance(udf.this, exp.Table):
        raise AnalysisError("CREATE FUNCTION takes a name and a parameter list: f(x STRING)")
    parts = [p.name for p in udf.this.parts]
    shown = ".".join(parts)
    temporary, returns, comment, deterministic = False, "", None, True
    properties = statement.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.TemporaryProperty):
            temporary = True
        elif isinstance(prop, exp.ReturnsProperty):
            if prop.args.get("is_table"):
                raise AnalysisError(
                    f"CREATE FUNCTION {shown}: RETURNS TABLE (a SQL table function) is not "
                    "supported; a function returns one value (RETURNS <type>); use a view for "
                    "a query"
                )
            what = f"the return type of function {shown}{position_of(prop.this)}"
            ddl_to_arrow(prop.this, what)
            returns = prop.this.sql(dialect="databricks")
        elif isinstance(prop, exp.SchemaCommentProperty):
            comment = prop.this.name
        elif isinstance(prop, exp.LanguageProperty):
            if prop.name.upper() != "SQL":
                raise AnalysisError(
                    f"CREATE FUNCTION {shown}: LANGUAGE {prop.name.upper()} is not supported "
                    "(SQL functions only)"
                )
        elif isinstance(prop, exp.StabilityProperty):
            deterministic = prop.name.upper() == "IMMUTABLE"
        else:
            raise AnalysisError(
                f"CREATE FUNCTION {shown}: {prop.sql(dialect='databricks')} is not supported"
            )
    if temporary and len(parts) > 1:
        raise AnalysisError(f"a temporary function has a one-part name, got {shown}")
    check_name(parts[-1].lower(), "function")
    if len(parts) == 1 and parts[0].lower() in _BUILTINS:
        raise AnalysisError(f"cannot create function {shown}: a built-in function has that name")
    parameters = _parameters(udf, shown)
    body = statement.expression
    if not isinstance(body, exp.Return) or body.this is None:
        raise AnalysisError(f"CREATE FUNCTION {shown} needs RETURN <expression>")
    expression = body.this
    if isinstance(expression, exp.Query) or expression.find(exp.Query) is not None:
        raise AnalysisError(
            f"CREATE FUNCTION {shown}: a body with a query is not supported{position_of(body)}; "
            "the body is one expression over the parameters (use a view for a query)"
        )
    names = {p[0].lower() for p in parameters}
    for column in expression.find_all(exp.Column):
        if column.name.lower() not in names or column.table.lower() not in ("", parts[-1].lower()):
            listed = ", ".join(p[0] for p in parameters) or "none"
            raise AnalysisError(
                f"function {shown}: cannot resolve {column.sql(dialect='databricks')} in its "
                f"body{_where(column)}; a function sees only its parameters ({listed})"
            )
    for call in _calls(expression):
        if [p.lower() for p in call[0]][-len(parts) :] == [p.lower() for p in parts]:
            raise AnalysisError(
                f"function {shown} calls itself{position_of(call[1])}: recursive SQL functions "
                "are not supported"
            )
    function = FunctionDefinition(
        parameters=parameters,
        returns=returns,
        body=expression.sql(dialect="databricks", normalize_functions=False),
        catalog=namespace.catalog,
        schema=namespace.schema,
        comment=comment,
        deterministic=deterministic,
        created=time.time(),
    )
    return parts, temporary, function


def _parameters(
    udf: exp.UserDefinedFunction, shown: str
) -> list[tuple[str, str, str | None, str | None]]:
    parameters: list[tuple[str, str, str | None, str | None]] = []
    seen: set[str] = set()
    for column in udf.expressions:
        if not isinstance(column, exp.ColumnDef) or column.args.get("kind") is None:
            raise AnalysisError(
                f"function {shown}: parameter {column.sql(dialect='databricks')} needs a type"
                f"{position_of(column)}"
            )
        if column.name.lower() in seen:
            raise AnalysisError(f"function {shown}: parameter {column.name} appears twice")
        seen.add(column.name.lower())
        kind = column.args["kind"]
        ddl_to_arrow(kind, f"parameter {column.name} of function {shown}{position_of(column)}")
        default = comment = None
        for constraint in column.args.get("constraints") or []:
            inner = constraint.args.get("kind")
            if isinstance(inner, exp.DefaultColumnConstraint):
                default = inner.this.sql(dialect="databricks")
            elif isinstance(inner, exp.CommentColumnConstraint):
                comment = inner.this.name
            else:
                raise AnalysisError(
                    f"function {shown}: {constraint.sql(dialect='databricks')} is not supported "
                    f"on parameter {column.name}"
                )
        if default is None and any(p[2] is not None for p in parameters):
            raise AnalysisError(
                f"function {shown}: parameter {column.name} needs a DEFAULT, as the parameters "
                "before it have one"
            )
        parameters.append((column.name, kind.sql(dialect="databricks"), default, comment))
    return parameters


def with_return_type(function: FunctionDefinition, returns: str) -> FunctionDefinition:
    """``function`` with its derived return type."""
    return replace(function, returns=returns)


def probe(function: FunctionDefinition) -> exp.Expression:
    """The function's body applied to typed NULLs: what its result type is derived from."""
    arguments = [
        exp.cast(exp.Null(), exp.DataType.build(p[1], dialect="databricks"))
        for p in function.parameters
    ]
    return _substitute(function, "", arguments, cast_result=False)


def signature(function: FunctionDefinition) -> str:
    """``x STRING, n INT DEFAULT 3``."""
    return ", ".join(
        f"{name} {kind}" + (f" DEFAULT {default}" if default is not None else "")
        for name, kind, default, _ in function.parameters
    )


def describe_rows(shown: str, function: FunctionDefinition, extended: bool) -> list[str]:
    """The lines of ``DESCRIBE FUNCTION [EXTENDED]``, as Databricks prints them."""
    inputs = [
        f"{name} {kind}"
        + (f" DEFAULT {default}" if default is not None else "")
        + (f" '{comment}'" if comment else "")
        for name, kind, default, comment in function.parameters
    ]
    rows = [f"Function: {shown}", "Type:     SCALAR"]
    rows += [("Input:    " if i == 0 else "          ") + text for i, text in enumerate(inputs)]
    if not inputs:
        rows.append("Input:    ()")
    rows.append(f"Returns:  {function.returns}")
    if extended:
        created = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(function.created))
        rows += [
            f"Comment:  {function.comment or ''}",
            f"Deterministic: {str(function.deterministic).lower()}",
            "Data Access: CONTAINS SQL",
            f"Create Time: {created}",
            f"Body:     {function.body}",
        ]
    return rows


class FunctionInliner:
    """Replaces calls of SQL functions (the session's temporary ones, the catalog's) with their
    bodies."""

    def __init__(self, catalog: DeltaCatalog, temporary: dict[str, FunctionDefinition]):
        self.catalog = catalog
        self.temporary = temporary
        #: a definition being created, seen in place of the stored one (by its shown name)
        self._pending: tuple[str, FunctionDefinition] | None = None

    @contextmanager
    def defining(self, shown: str, function: FunctionDefinition) -> Iterator[None]:
        """Within the block, ``shown`` (a temporary function's name or a stored one's
        three-part name) resolves to ``function``: a new definition is checked as it will be
        called, so a cycle it closes is found at CREATE."""
        self._pending = (shown, function)
        try:
            yield
        finally:
            self._pending = None

    def find(
        self, parts: list[str], namespace: Namespace, temporary: bool = True
    ) -> tuple[str, FunctionDefinition] | None:
        """The function ``parts`` names (shown name, definition); None when there is none."""
        lowered = [p.lower() for p in parts]
        pending = self._pending
        if len(lowered) == 1 and temporary and pending is not None and pending[0] == lowered[0]:
            return pending
        if len(lowered) == 1 and temporary and lowered[0] in self.temporary:
            return lowered[0], self.temporary[lowered[0]]
        if len(lowered) > 3 or any(not p for p in lowered):
            return None
        try:
            name = DeltaCatalog.qualify(lowered, namespace)
        except AnalysisError:
            return None
        if pending is not None and pending[0] == str(name):
            return pending
        try:
            found = self.catalog.function(name)
        except SqlError:
            return None
        return (str(name), found) if found is not None else None

    def name_of(self, parts: list[str], namespace: Namespace) -> TableName:
        """The three-part name of a persistent function (names checked)."""
        check_name(parts[-1].lower(), "function")
        return DeltaCatalog.qualify(parts, namespace)

    def inline(self, tree: exp.Expression, namespace: Namespace) -> exp.Expression:
        """``tree`` with every SQL function call replaced by its body (in place)."""
        if not self.temporary and not any(True for _ in _calls(tree)):
            return tree
        return self._expand(tree, namespace, (), temporary=True)

    def _expand(
        self,
        node: exp.Expression,
        namespace: Namespace,
        stack: tuple[str, ...],
        *,
        temporary: bool,
    ) -> exp.Expression:
        call = _call_parts(node)
        if call is not None and not (len(call[0]) == 1 and call[0][0].lower() in _BUILTINS):
            found = self.find(call[0], namespace, temporary)
            if found is not None:
                return self._inline_call(node, call[1], found, namespace, stack, temporary)
        for key, value in list(node.args.items()):
            if isinstance(value, exp.Expression):
                node.set(key, self._expand(value, namespace, stack, temporary=temporary))
            elif isinstance(value, list):
                node.set(
                    key,
                    [
                        self._expand(v, namespace, stack, temporary=temporary)
                        if isinstance(v, exp.Expression)
                        else v
                        for v in value
                    ],
                )
        return node

    def _inline_call(
        self,
        site: exp.Expression,
        call: exp.Anonymous,
        found: tuple[str, FunctionDefinition],
        namespace: Namespace,
        stack: tuple[str, ...],
        temporary: bool,
    ) -> exp.Expression:
        shown, function = found
        if shown in stack:
            chain = " -> ".join((*stack, shown))
            raise AnalysisError(
                f"function {shown} calls itself ({chain}){position_of(call)}: recursive SQL "
                "functions are not supported"
            )
        if len(stack) >= MAX_DEPTH:
            raise AnalysisError(f"SQL functions call each other more than {MAX_DEPTH} deep")
        arguments = [
            self._expand(a, namespace, stack, temporary=temporary) for a in call.expressions
        ]
        bound = _bind(shown, function, arguments, call)
        body_namespace = Namespace(function.catalog, function.schema)
        # a persistent function's body never sees the session's temporary functions
        body_temporary = temporary and shown in self.temporary
        expression = _substitute(function, shown, bound, where=position_of(call))
        expression = self._expand(
            expression, body_namespace, (*stack, shown), temporary=body_temporary
        )
        parent = site.parent
        if isinstance(parent, exp.Select) and site.arg_key == "expressions":
            # an unaliased call keeps its text as the column name, as on Databricks
            return exp.alias_(
                expression, site.sql(dialect="databricks", normalize_functions=False), quoted=True
            )
        return expression


def _where(node: exp.Expression) -> str:
    """Where ``node`` is in the SQL text (a column's position is its name's)."""
    inner = node.this
    return position_of(node) or (position_of(inner) if isinstance(inner, exp.Expression) else "")


def _calls(tree: exp.Expression):
    """``(name parts, node)`` of every call that may name a SQL function."""
    for node in tree.find_all(exp.Anonymous, exp.Dot):
        found = _call_parts(node)
        if found is not None:
            yield found[0], found[1]


def _call_parts(node: exp.Expression) -> tuple[list[str], exp.Anonymous] | None:
    """The name parts and call node of ``f(...)`` / ``s.f(...)`` / ``c.s.f(...)``."""
    if isinstance(node, exp.Anonymous):
        if isinstance(node.parent, exp.Dot) and node.arg_key == "expression":
            return None  # seen through its qualifier
        return [node.name], node
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Anonymous):
        parts: list[str] = []
        qualifier = node.this
        while isinstance(qualifier, exp.Dot):
            if not isinstance(qualifier.expression, exp.Identifier):
                return None
            parts.insert(0, qualifier.expression.name)
            qualifier = qualifier.this
        if not isinstance(qualifier, (exp.Identifier, exp.Column)) or (
            isinstance(qualifier, exp.Column) and qualifier.table
        ):
            return None
        parts.insert(0, qualifier.name)
        return [*parts, node.expression.name], node.expression
    return None


def _bind(
    shown: str,
    function: FunctionDefinition,
    arguments: list[exp.Expression],
    call: exp.Expression,
) -> list[exp.Expression]:
    """The argument for each parameter (positional, then ``name => value``, then defaults)."""
    parameters = function.parameters
    usage = f"{shown}({signature(function)})"
    where = position_of(call)
    bound: list[exp.Expression | None] = [None] * len(parameters)
    index = {p[0].lower(): i for i, p in enumerate(parameters)}
    named = False
    for position, argument in enumerate(arguments):
        if isinstance(argument, exp.Kwarg):
            named = True
            key = argument.this.name.lower()
            if key not in index:
                raise AnalysisError(
                    f"function {shown} has no parameter {argument.this.name!r}{where}; "
                    f"usage: {usage}"
                )
            if bound[index[key]] is not None:
                raise AnalysisError(
                    f"function {shown}: parameter {parameters[index[key]][0]} is given twice{where}"
                )
            bound[index[key]] = argument.expression
            continue
        if named:
            raise AnalysisError(
                f"function {shown}: a positional argument follows a named one{where}"
            )
        if position >= len(parameters):
            raise AnalysisError(
                f"function {shown} takes {len(parameters)} argument(s), got {len(arguments)}"
                f"{where}; usage: {usage}"
            )
        bound[position] = argument
    result: list[exp.Expression] = []
    for i, (name, kind, default, _) in enumerate(parameters):
        argument = bound[i]
        if argument is None:
            if default is None:
                raise AnalysisError(
                    f"function {shown} takes {len(parameters)} argument(s), got "
                    f"{len(arguments)}{where}: {name} is missing; usage: {usage}"
                )
            argument = parse_one(default, read=dialect.NAME)
        _check_literal(shown, i, name, kind, argument, where)
        result.append(argument)
    return result


def _check_literal(
    shown: str, index: int, name: str, kind: str, argument: exp.Expression, where: str
) -> None:
    """A constant argument that cannot become its parameter's type is an error now."""
    if not isinstance(argument, exp.Literal) or not argument.is_string:
        return
    target = ddl_to_arrow(kind)
    if pa.types.is_string(target):
        return
    try:
        pa.array([argument.name]).cast(target)
    except CAST_ERRORS:
        raise AnalysisError(
            f"argument {index + 1} ({name}) of function {shown}{where}: "
            f"{argument.sql(dialect='databricks')} cannot be cast to {kind}"
        ) from None


def _cast_argument(
    shown: str, index: int, name: str, kind: str, argument: exp.Expression, where: str
) -> exp.Expression:
    """``CAST(argument AS kind)``; a value that cannot be cast fails naming the function, the
    argument and the value (``[CAST_INVALID_INPUT] argument 1 (x) of function f ...``). An
    argument with an AI call is cast as it is (it is computed once)."""
    target = exp.DataType.build(kind, dialect="databricks")
    cast = exp.cast(argument.copy(), target)
    if (
        not shown
        or target.is_type(*exp.DataType.TEXT_TYPES)
        or isinstance(argument, (exp.Literal, exp.Null))
        or any(n.name.lower().startswith("ai_") for n in argument.find_all(exp.Anonymous))
        or any(type(n).__name__.startswith("AI") for n in argument.walk())
    ):
        return cast
    failed = exp.and_(
        exp.Not(this=exp.Is(this=argument.copy(), expression=exp.Null())),
        exp.Is(this=exp.TryCast(this=argument.copy(), to=target.copy()), expression=exp.Null()),
    )
    message = exp.Concat(
        expressions=[
            exp.Literal.string(
                f"{CAST_INVALID_INPUT} argument {index + 1} ({name}) of function {shown}{where}: "
                "the value '"
            ),
            exp.cast(argument.copy(), exp.DataType.build("STRING", dialect="databricks")),
            exp.Literal.string(f"' cannot be cast to {kind}"),
        ]
    )
    fail = exp.Anonymous(this="error", expressions=[message])
    return exp.Case(ifs=[exp.If(this=failed, true=fail)], default=cast)


def _substitute(
    function: FunctionDefinition,
    shown: str,
    arguments: list[exp.Expression],
    *,
    cast_result: bool = True,
    where: str = "",
) -> exp.Expression:
    """The body with each parameter replaced by its argument, cast to the parameter's type,
    and the whole cast to the return type."""
    body = parse_one(function.body, read=dialect.NAME)
    values = {
        p[0].lower(): _cast_argument(shown, i, p[0], p[1], a, where)
        for i, (p, a) in enumerate(zip(function.parameters, arguments, strict=True))
    }
    own = shown.rsplit(".", 1)[-1].lower()
    for column in list(body.find_all(exp.Column)):
        if column.table.lower() in ("", own) and column.name.lower() in values:
            column.replace(values[column.name.lower()].copy())
    if isinstance(body, exp.Column) and body.name.lower() in values:
        body = values[body.name.lower()].copy()
    if not cast_result or not function.returns:
        return exp.Paren(this=body)
    return exp.cast(
        exp.Paren(this=body), exp.DataType.build(function.returns, dialect="databricks")
    )
