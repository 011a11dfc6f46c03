"""Arrow tables as the results grid sees them: typed columns and JSON cells, one page at a time.

Cells use the CLI's JSON conventions (:func:`lakeinfer.output.to_jsonable`): STRUCT as an object,
ARRAY as a list, timestamps ISO-8601, binary base64, decimals as strings; a MAP column's values
become objects keyed by the keys' text. SQL NULL is JSON
``null``; the page tells it apart from the string ``"NULL"`` by type.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lakeinfer.output import to_jsonable
from lakeinfer.sql.types import arrow_to_ddl

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def columns_of(schema: pa.Schema) -> list[dict[str, str]]:
    """Name and Databricks type (``ARRAY<FLOAT>``, ``STRUCT<...>``) of each column."""
    return [{"name": f.name, "type": arrow_to_ddl(f.type)} for f in schema]


def page(table: pa.Table, offset: int = 0, limit: int = DEFAULT_PAGE) -> dict[str, Any]:
    """Rows ``offset`` to ``offset + limit`` of ``table``, with its columns and row count."""
    if offset < 0 or limit < 1:
        raise ValueError(f"offset must be >= 0 and limit >= 1 (got {offset}, {limit})")
    limit = min(limit, MAX_PAGE)
    chunk = table.slice(offset, limit)
    names = table.column_names
    maps = {f.name for f in table.schema if pa.types.is_map(f.type)}
    rows = [
        [to_jsonable(_as_object(row[n]) if n in maps else row[n]) for n in names]
        for row in chunk.to_pylist()
    ]
    return {
        "columns": columns_of(table.schema),
        "rows": rows,
        "offset": offset,
        "limit": limit,
        "total": table.num_rows,
    }


def _as_object(pairs: list[tuple[Any, Any]] | None) -> dict[str, Any] | None:
    """A MAP value (Arrow gives ``(key, value)`` pairs) as an object keyed by the keys' text."""
    if pairs is None:
        return None
    return {str(key): value for key, value in pairs}
