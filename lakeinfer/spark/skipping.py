"""Data skipping for the ``lakeinfer`` data source: which files of a scan cannot hold a row
the query's filters keep, from the Delta log alone.

Spark hands a reader the conjunction of the query's simple filters (``pushFilters``). A file
is left out when a filter is false for every row it can hold:

* on a partition column, from the file's partition value (exact, any type);
* on an integer or date column, from the file's min/max statistics and null count. Other
  types are not used: Delta truncates string statistics and stores timestamps in
  milliseconds, so their bounds are not exact.

Spark still applies every filter to the rows read: skipping only saves reading files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from lakeinfer.spark.files import DataFile


def is_exact_stat(dtype: pa.DataType) -> bool:
    """Whether the Delta log's min/max of a column of this type bound its values exactly."""
    return pa.types.is_integer(dtype) or pa.types.is_date(dtype)


def may_match(file: DataFile, filters: Sequence[Any], schema: pa.Schema) -> bool:
    """False when some filter is false for every row ``file`` can hold."""
    partition = {k.lower(): v for k, v in file.partition_values}
    stats = {s[0].lower(): s[1:] for s in file.stats}
    return all(_may_match(file, f, schema, partition, stats) for f in filters)


def _may_match(
    file: DataFile,
    condition: Any,
    schema: pa.Schema,
    partition: dict[str, str | None],
    stats: dict[str, tuple[Any, Any, int | None]],
) -> bool:
    attribute = getattr(condition, "attribute", None)
    if not isinstance(attribute, tuple) or len(attribute) != 1:
        return True  # a nested field, or a filter without one column (Not, ...)
    name = str(attribute[0]).lower()
    kind = type(condition).__name__
    value = getattr(condition, "value", None)
    try:
        if name in partition:
            typed = _typed(partition[name], schema, name)
            return _holds(kind, value, typed, typed, 0 if typed is not None else 1, 1)
        if name in stats:
            low, high, nulls = stats[name]
            return _holds(kind, value, low, high, nulls, file.records)
    except (TypeError, ValueError, pa.ArrowInvalid):
        return True  # values that do not compare: read the file
    return True


def _typed(text: str | None, schema: pa.Schema, name: str) -> Any:
    if text is None:
        return None
    field = next(f for f in schema if f.name.lower() == name)
    return pa.scalar(text).cast(field.type).as_py()


def _holds(
    kind: str, value: Any, low: Any, high: Any, nulls: int | None, records: int | None
) -> bool:
    """Whether a file whose non-NULL values lie in [low, high] may have a row for which the
    filter ``kind(value)`` is true."""
    only_nulls = records is not None and nulls is not None and nulls >= records
    if kind == "IsNull":
        return nulls is None or nulls > 0
    if kind == "IsNotNull":
        return not only_nulls
    if kind == "EqualNullSafe" and value is None:
        return nulls is None or nulls > 0
    if only_nulls:
        return False  # every comparison with NULL is unknown: no row passes
    if low is None or high is None:
        return True  # no statistics
    low, high = _comparable(low, value), _comparable(high, value)
    if kind in ("EqualTo", "EqualNullSafe"):
        return low <= value <= high
    if kind == "In":
        return any(v is not None and low <= v <= high for v in value)
    if kind == "GreaterThan":
        return high > value
    if kind == "GreaterThanOrEqual":
        return high >= value
    if kind == "LessThan":
        return low < value
    if kind == "LessThanOrEqual":
        return low <= value
    return True


def _comparable(bound: Any, value: Any) -> Any:
    """A statistic as the filter's value type (dates may come as datetimes or text)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        if isinstance(bound, dt.datetime):
            return bound.date()
        if isinstance(bound, str):
            return dt.date.fromisoformat(bound[:10])
    return bound
