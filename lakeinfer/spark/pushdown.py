"""The simple filters of a statement that bound what one table's scan must read.

Spark pushes a query's simple filters into a data source's reader; a scan that lakeinfer plans
itself (:mod:`lakeinfer.spark.planned`) finds them in the statement: the top-level conjuncts
of the ``WHERE`` of each ``SELECT`` that reads the table alone (no join), of the forms
``column <op> literal`` (either way round), ``column IN (literals)``, ``column BETWEEN a AND
b`` and ``column IS [NOT] NULL``. They become PySpark's filter objects
(:mod:`pyspark.sql.datasource`), which :func:`lakeinfer.spark.skipping.may_match` reads.

A literal is used only when it is of the column's kind (a number for a number, text for text,
a date for a date) and converts to the column's type exactly; anything else is left to Spark,
which applies every filter to the rows read: these only decide which files need not be read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
from sqlglot import exp

#: what :func:`_value` gives for a node that is no usable literal
_NONE = object()
#: sqlglot comparison -> (PySpark filter name, the same with the operands swapped)
_COMPARISONS: dict[type[exp.Expression], tuple[str, str]] = {
    exp.EQ: ("EqualTo", "EqualTo"),
    exp.NullSafeEQ: ("EqualNullSafe", "EqualNullSafe"),
    exp.GT: ("GreaterThan", "LessThan"),
    exp.GTE: ("GreaterThanOrEqual", "LessThanOrEqual"),
    exp.LT: ("LessThan", "GreaterThan"),
    exp.LTE: ("LessThanOrEqual", "GreaterThanOrEqual"),
}


def scan_filters(tree: exp.Expression, relation: str, schema: pa.Schema) -> list[list[Any]] | None:
    """For each place ``tree`` reads the table named ``relation``, the filters that bound it;
    None when some place reads it without any (every file must then be read)."""
    places = [t for t in tree.find_all(exp.Table) if t.name == relation]
    found = [_filters_of(table, schema) for table in places]
    if not found or any(not filters for filters in found):
        return None
    return found


def _filters_of(table: exp.Table, schema: pa.Schema) -> list[Any]:
    source = table.parent
    select = source.parent if isinstance(source, exp.From) else None
    if not isinstance(select, exp.Select) or select.args.get("joins"):
        return []
    if select.args.get("laterals") or table.args.get("joins"):
        return []
    where = select.args.get("where")
    if where is None:
        return []
    names = {table.name.lower(), table.alias_or_name.lower()}
    fields = {f.name.lower(): f for f in schema}
    filters: list[Any] = []
    for conjunct in _conjuncts(where.this):
        filters.extend(_translate(conjunct, names, fields))
    return filters


def _conjuncts(condition: exp.Expression) -> Iterator[exp.Expression]:
    while isinstance(condition, exp.Paren):
        condition = condition.this
    if isinstance(condition, exp.And):
        yield from _conjuncts(condition.left)
        yield from _conjuncts(condition.right)
    else:
        yield condition


def _translate(
    condition: exp.Expression, names: set[str], fields: dict[str, pa.Field]
) -> list[Any]:
    from pyspark.sql import datasource as filters

    def column(node: exp.Expression) -> pa.Field | None:
        if not isinstance(node, exp.Column) or (node.table and node.table.lower() not in names):
            return None
        return fields.get(node.name.lower())

    def make(kind: str, field: pa.Field, value: Any) -> Any:
        return getattr(filters, kind)((field.name,), value)

    kinds = _COMPARISONS.get(type(condition))
    if kinds is not None:
        left, right = condition.left, condition.right
        for node, other, kind in ((left, right, kinds[0]), (right, left, kinds[1])):
            field = column(node)
            if field is not None:
                value = _value(other, field.type)
                return [] if value is _NONE else [make(kind, field, value)]
        return []
    if isinstance(condition, exp.In) and not condition.args.get("query"):
        field = column(condition.this)
        if field is None:
            return []
        values = [_value(v, field.type) for v in condition.expressions]
        if not values or any(v is _NONE for v in values):
            return []
        return [filters.In((field.name,), tuple(values))]
    if isinstance(condition, exp.Between) and not condition.args.get("symmetric"):
        field = column(condition.this)
        low, high = (
            _value(condition.args.get(k), field.type) if field else _NONE for k in ("low", "high")
        )
        if field is None or low is _NONE or high is _NONE:
            return []
        return [make("GreaterThanOrEqual", field, low), make("LessThanOrEqual", field, high)]
    negated = isinstance(condition, exp.Not)
    inner = condition.this if negated else condition
    while isinstance(inner, exp.Paren):
        inner = inner.this
    if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
        field = column(inner.this)
        if field is None:
            return []
        return [(filters.IsNotNull if negated else filters.IsNull)((field.name,))]
    return []


def _value(node: exp.Expression | None, dtype: pa.DataType) -> Any:
    """``node`` as a Python value of ``dtype``, or ``_NONE`` when it is not a literal of the
    column's kind that converts exactly."""
    raw = _literal(node)
    if raw is _NONE or raw is None:
        return _NONE
    if pa.types.is_boolean(dtype):
        fits = isinstance(raw, bool)
    elif pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        fits = isinstance(raw, (int, float)) and not isinstance(raw, bool)
    elif pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_date(dtype):
        fits = isinstance(raw, str)  # a date as DATE '...' or as text, as Spark casts it
    else:
        fits = False
    if not fits:
        return _NONE
    try:
        return pa.scalar(raw).cast(dtype).as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError):
        return _NONE


def _literal(node: exp.Expression | None) -> Any:
    if isinstance(node, exp.Paren):
        return _literal(node.this)
    if isinstance(node, exp.Neg):
        value = _literal(node.this)
        return -value if isinstance(value, (int, float)) and not isinstance(value, bool) else _NONE
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return _NONE
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        if node.to.is_type(exp.DataType.Type.DATE):
            return node.this.this
    return _NONE


def kept(files: Sequence[Any], places: list[list[Any]] | None, schema: pa.Schema) -> list[Any]:
    """The ``files`` some place reading the table may need (all when ``places`` is None)."""
    if places is None:
        return list(files)
    from lakeinfer.spark.skipping import may_match

    return [f for f in files if any(may_match(f, filters, schema) for filters in places)]
