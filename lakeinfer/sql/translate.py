"""Rewrites of Databricks functions whose DuckDB transpilation by sqlglot has other semantics.

sqlglot's Databricks -> DuckDB transpilation is kept wherever it is right (``concat`` becomes
the NULL-propagating ``||``, ``named_struct`` a struct literal, ``try_cast``, ``array``,
``range``, ``explode`` as ``UNNEST``, ``current_timestamp``). This pure AST rewrite fixes the
rest, before the query is staged or run:

- ``from_json(x, ddl)``: the schema is checked here (errors name the argument and position),
  the value goes through Spark's PERMISSIVE reading (:func:`json_functions.conform`);
- ``schema_of_json('literal')``: evaluated here, to the DDL text Spark prints;
- ``to_json(x)``: NULL struct fields are left out, as Spark does;
- ``x:a.b``, ``x:arr[0]``, ``x:['key']``, ``get_json_object(x, '$.a')``: a STRING, NULL for
  malformed JSON instead of DuckDB's error, identifiers matched as Databricks does;
- ``size(x)`` and ``cardinality(x)``: INT, for arrays and maps (NULL for NULL: Databricks'
  ANSI default);
- ``date_add`` / ``date_sub`` give a DATE, ``dayofweek`` counts 1 = Sunday .. 7 = Saturday,
  ``count_if`` is a BIGINT, ``format_string`` formats printf-style;
- ``explode(x)`` / ``explode_outer(x)`` in a SELECT list: a column named ``col``; ``count(*)``
  one named ``count(1)``, as Spark names it;
  ``explode_outer`` and ``LATERAL VIEW OUTER`` keep rows whose array is empty or NULL;
- ``a / b`` raises DIVIDE_BY_ZERO when ``b`` is 0 (Databricks' ANSI mode; DuckDB answers
  infinity), and an unaliased projection with a division is named as Spark names it
  (``(a / b)``).

A projection without an alias whose expression was rewritten keeps the Databricks text of the
original expression as its column name; a bare ``x:a.b`` is named after its last field (``b``),
as Databricks names it.
"""

from __future__ import annotations

import json

from sqlglot import exp

from lakeinfer.errors import AnalysisError
from lakeinfer.sql import json_functions, task_functions
from lakeinfer.sql.ddl import parse_schema, to_duckdb
from lakeinfer.sql.parse import position_of

#: Databricks' error for a division by zero in ANSI mode (its default)
DIVIDE_BY_ZERO = (
    "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate divisor being 0 and "
    "return NULL instead."
)


def translate(tree: exp.Expression) -> exp.Expression:
    """A copy of ``tree`` with the rewrites of the module docstring applied."""
    tree = tree.copy()
    task_functions.normalize(tree)
    _name_rewritten_projections(tree)
    for node in list(tree.find_all(exp.Div)):
        _check_divisor(node)
    # schema_of_json first: from_json(x, schema_of_json('...')) then sees a literal schema
    for node in list(tree.find_all(exp.Anonymous)):
        if str(node.this).lower() == "schema_of_json":
            node.replace(_schema_of_json(node))
    for node in list(tree.find_all(exp.FromJson)):
        node.replace(_from_json(node))
    for node in list(tree.find_all(exp.JSONFormat)):
        node.replace(_to_json(node))
    for node in list(tree.find_all(exp.JSONExtract, exp.JSONExtractScalar)):
        replacement = _json_path(node)
        if replacement is not None:
            node.replace(replacement)
    for node in list(tree.find_all(exp.ArraySize, exp.Anonymous)):
        if isinstance(node, exp.ArraySize) or str(node.this).lower() == "cardinality":
            argument = node.this if isinstance(node, exp.ArraySize) else node.expressions[0]
            node.replace(exp.cast(exp.Anonymous(this="cardinality", expressions=[argument]), "INT"))
    for node in list(tree.find_all(exp.TsOrDsAdd)):
        if node.text("unit").upper() in ("", "DAY"):
            node.replace(exp.cast(node.copy(), "DATE"))  # date_add/date_sub give a DATE
    for node in list(tree.find_all(exp.DayOfWeek)):
        # Spark counts 1 = Sunday .. 7 = Saturday: isodow (1 = Monday .. 7 = Sunday) % 7 + 1
        isodow = exp.Anonymous(this="isodow", expressions=[exp.cast(node.this, "DATE")])
        node.replace(
            exp.paren(
                exp.Add(
                    this=exp.Mod(this=isodow, expression=exp.Literal.number(7)),
                    expression=exp.Literal.number(1),
                )
            )
        )
    for node in list(tree.find_all(exp.Format)):
        # format_string / printf use printf-style patterns; DuckDB's format() does not
        node.replace(exp.Anonymous(this="printf", expressions=[node.this, *node.expressions]))
    for node in list(tree.find_all(exp.CountIf)):
        node.replace(exp.cast(node.copy(), "BIGINT"))
    for lateral in list(tree.find_all(exp.Lateral)):
        if lateral.args.get("view") and lateral.args.get("outer"):
            if isinstance(lateral.this, exp.Explode):
                lateral.set("this", exp.Explode(this=_at_least_one(lateral.this.this)))
                lateral.set("outer", False)
    for node in list(tree.find_all(exp.Explode)):
        if type(node).__name__ == "_ExplodeOuter":
            node.replace(exp.Explode(this=_at_least_one(node.this)))
    return tree


_REWRITTEN = (exp.FromJson, exp.JSONFormat, exp.JSONExtract, exp.JSONExtractScalar, exp.ArraySize)
#: nodes whose DuckDB column name would show the rewrite: named as Spark names them
_SPARK_NAMED = (exp.Div,)


def _check_divisor(node: exp.Div) -> None:
    """``a / b`` raises DIVIDE_BY_ZERO when ``b`` is 0, as Databricks' ANSI mode does (DuckDB
    answers infinity); ``try_divide`` stays NULL. A nonzero number literal needs no check."""
    divisor = node.expression
    if isinstance(divisor, exp.Literal) and divisor.is_number and float(divisor.this) != 0:
        return
    zero = exp.EQ(this=divisor.copy(), expression=exp.Literal.number(0))
    fail = exp.Anonymous(this="error", expressions=[exp.Literal.string(DIVIDE_BY_ZERO)])
    node.set("expression", exp.Case(ifs=[exp.If(this=zero, true=fail)], default=divisor.copy()))


def spark_name(node: exp.Expression) -> str:
    """The column name Spark gives an unaliased expression: its text with every binary
    operation in parentheses (``(a / b)``) and ``count(*)`` as ``count(1)``."""

    named = exp.Paren(this=node.copy())  # a root to replace the node's own top under
    for n in reversed(list(named.walk())):  # innermost first: each copy holds its rewrites
        if isinstance(n, exp.Binary) and not isinstance(n.parent, exp.Paren):
            n.replace(exp.Paren(this=n.copy()))
        elif isinstance(n, exp.Count) and isinstance(n.this, exp.Star):
            n.replace(exp.Anonymous(this="count", expressions=[exp.Literal.number(1)]))
    text = named.this.sql(dialect="databricks", normalize_functions="lower")
    return f"({text})" if isinstance(named.this, exp.Binary) else text


def _name_rewritten_projections(tree: exp.Expression) -> None:
    for select in tree.find_all(exp.Select):
        projections = []
        for projection in select.expressions:
            if not isinstance(projection, exp.Alias):
                if isinstance(projection, exp.Explode) and not isinstance(
                    projection,
                    exp.Posexplode,  # sqlglot names its columns pos and col
                ):
                    projection = exp.alias_(projection, "col")
                elif isinstance(projection, exp.Count) and isinstance(projection.this, exp.Star):
                    projection = exp.alias_(projection, "count(1)", quoted=True)  # Spark's name
                elif _is_json_field(projection):
                    # as Databricks names it: raw:store.owner is a column called owner
                    name = projection.expression.expressions[-1].this
                    projection = exp.alias_(projection, name, quoted=True)
                elif _is_schema_of_json(projection) or any(
                    True for _ in projection.find_all(*_REWRITTEN)
                ):
                    name = projection.sql(dialect="databricks")
                    projection = exp.alias_(projection, name, quoted=True)
                elif any(True for _ in projection.find_all(*_SPARK_NAMED)):
                    projection = exp.alias_(projection, spark_name(projection), quoted=True)
            projections.append(projection)
        select.set("expressions", projections)


def _is_json_field(node: exp.Expression) -> bool:
    """``x:a.b`` (a ``:`` path that ends with a field name)."""
    if not isinstance(node, exp.JSONExtract) or not node.args.get("variant_extract"):
        return False
    path = node.expression
    return (
        isinstance(path, exp.JSONPath)
        and isinstance(path.expressions[-1], exp.JSONPathKey)
        and isinstance(path.expressions[-1].this, str)
    )


def _is_schema_of_json(node: exp.Expression) -> bool:
    return any(str(n.this).lower() == "schema_of_json" for n in node.find_all(exp.Anonymous))


def _string_literal(node: exp.Expression | None, function: str, argument: str, where: str) -> str:
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    shown = node.sql(dialect="databricks") if node is not None else "nothing"
    raise AnalysisError(f"{function}{where}: {argument} must be a string literal, got {shown}")


def _schema_of_json(node: exp.Anonymous) -> exp.Expression:
    where = position_of(node)
    if len(node.expressions) != 1:
        raise AnalysisError(f"schema_of_json{where}: takes one argument (a JSON string literal)")
    text = _string_literal(node.expressions[0], "schema_of_json", "json (argument 1)", where)
    return exp.Literal.string(
        json_functions.infer_schema(text, f"schema_of_json{where}: json (argument 1)")
    )


def _from_json(node: exp.FromJson) -> exp.Expression:
    where = position_of(node)
    if node.args.get("options") is not None:
        raise AnalysisError(
            f"from_json{where}: options (argument 3) are not supported; malformed JSON is read "
            "in PERMISSIVE mode"
        )
    ddl = _string_literal(node.expression, "from_json", "schema (argument 2)", where)
    dtype = parse_schema(ddl, f"from_json{where}: schema (argument 2)")
    conformed = exp.Anonymous(
        this=json_functions.FROM_JSON, expressions=[_as_text(node.this), exp.Literal.string(ddl)]
    )
    duckdb_type = to_duckdb(dtype)
    structure = exp.Literal.string(json.dumps(duckdb_type))
    transformed = exp.Anonymous(this="json_transform", expressions=[conformed, structure])
    # the explicit type keeps a NULL literal argument from giving an untyped NULL column
    return exp.Cast(this=transformed, to=exp.DataType.build(duckdb_type, dialect="duckdb"))


def _to_json(node: exp.JSONFormat) -> exp.Expression:
    if node.args.get("options") is not None:
        raise AnalysisError(f"to_json{position_of(node)}: options (argument 2) are not supported")
    inner = exp.cast(exp.Anonymous(this="to_json", expressions=[node.this]), "VARCHAR")
    return exp.Anonymous(this=json_functions.TO_JSON, expressions=[inner])


def _json_path(node: exp.JSONExtract | exp.JSONExtractScalar) -> exp.Expression | None:
    path = node.expression
    colon = bool(node.args.get("variant_extract"))
    if not colon and not isinstance(node, exp.JSONExtractScalar):
        return None  # not from Databricks' `:` or get_json_object
    if not isinstance(path, exp.JSONPath):
        if colon:
            return None
        # a computed path: DuckDB evaluates it; malformed JSON gives NULL as in Spark
        return exp.Anonymous(
            this="try", expressions=[exp.JSONExtractScalar(this=node.this, expression=path)]
        )
    steps = _steps(path, case_insensitive=colon, where=position_of(node))
    if not colon and all(step[0] != "wildcard" for step in steps):
        # DuckDB's own extraction reads exact names as get_json_object does, and is faster
        extract = exp.JSONExtractScalar(this=_as_text(node.this), expression=path)
        return exp.Anonymous(this="try", expressions=[extract])
    return exp.Anonymous(
        this=json_functions.JSON_PATH,
        expressions=[
            _as_text(node.this),
            exp.Literal.string(json_functions.path_spec(steps, unwrap_single=not colon)),
        ],
    )


def _steps(path: exp.JSONPath, case_insensitive: bool, where: str) -> list[list]:
    steps: list[list] = []
    for part in path.expressions:
        if isinstance(part, exp.JSONPathRoot):
            continue
        if isinstance(part, exp.JSONPathKey):
            if isinstance(part.this, exp.JSONPathWildcard):
                steps.append(["wildcard"])
                continue
            exact = bool(part.args.get("quoted")) or not case_insensitive
            steps.append(["key", str(part.this), exact])
        elif isinstance(part, exp.JSONPathSubscript) and isinstance(part.this, int):
            steps.append(["index", part.this])
        elif isinstance(part, (exp.JSONPathSubscript, exp.JSONPathWildcard)) and (
            isinstance(part, exp.JSONPathWildcard) or isinstance(part.this, exp.JSONPathWildcard)
        ):
            steps.append(["wildcard"])
        else:
            raise AnalysisError(
                f"JSON path{where}: unsupported step {part.sql()!r}; use .field, ['field'], "
                "[index] or [*]"
            )
    return steps


def _as_text(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Literal) and node.is_string:
        return node
    return exp.cast(node, "VARCHAR")


def _at_least_one(array: exp.Expression) -> exp.Expression:
    """``array``, or ``[NULL]`` when it is empty or NULL (what explode_outer emits)."""
    size = exp.Anonymous(this="cardinality", expressions=[array.copy()])
    return exp.Case(
        ifs=[exp.If(this=exp.GT(this=size, expression=exp.Literal.number(0)), true=array)],
        default=exp.Array(expressions=[exp.Null()]),
    )
