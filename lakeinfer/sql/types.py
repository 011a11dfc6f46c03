"""Databricks SQL types <-> Arrow types.

Databricks DDL (``STRING``, ``ARRAY<FLOAT>``, ``STRUCT<a: INT, b: STRING>``, ``DECIMAL(10,2)``)
maps onto Arrow, the format DuckDB and delta-rs exchange. Text is parsed by the one strict type
parser, :mod:`lakeinfer.sql.ddl`; a type the statement parser already read (a CREATE TABLE
column) is parsed again from its text by that same parser, so both accept the same types. The
reverse mapping names Arrow types the way Databricks' ``DESCRIBE`` does.
"""

from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from lakeinfer.sql.ddl import parse_type, to_ddl

#: What Arrow raises when a value or a type cannot be cast to another.
CAST_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


def ddl_to_arrow(dtype: exp.DataType | str, what: str = "") -> pa.DataType:
    """Map a Databricks type (text or parsed node) onto the Arrow type lakeinfer stores; an
    :class:`~lakeinfer.errors.AnalysisError` naming the wrong token and its position if it is
    not a type (``what`` names the argument in that message)."""
    text = dtype if isinstance(dtype, str) else dtype.sql(dialect="databricks")
    return parse_type(text, what)


def arrow_to_ddl(dtype: pa.DataType) -> str:
    """Name an Arrow type the way Databricks' DESCRIBE does (``ARRAY<FLOAT>``, ``BIGINT``...)."""
    return to_ddl(dtype)


def storable_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a result is written to Delta with: NULL-typed columns become STRING,
    view/large string and binary types become the plain ones delta-rs round-trips; a column's
    NOT NULL and its comment (``comment`` metadata) are kept."""
    return pa.schema(
        [
            pa.field(f.name, _storable(f.type), nullable=f.nullable, metadata=_comment(f))
            for f in schema
        ]
    )


def _comment(field: pa.Field) -> dict[bytes, bytes] | None:
    """A column comment is kept (Delta stores it in the field's metadata); other metadata is
    the reader's, not the table's."""
    comment = (field.metadata or {}).get(b"comment")
    return {b"comment": comment} if comment else None


def conform_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s names and types (columns cast by position)."""
    if batch.schema.equals(schema):
        return batch
    columns = [c.cast(f.type) for c, f in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _storable(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_null(dtype):
        return pa.string()
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return pa.binary()
    if pa.types.is_timestamp(dtype):
        return pa.timestamp("us", tz=dtype.tz)
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_list_view(dtype):
        return pa.list_(_storable(dtype.value_type))
    if pa.types.is_fixed_size_list(dtype):
        return pa.list_(_storable(dtype.value_type))
    if pa.types.is_map(dtype):
        return pa.map_(_storable(dtype.key_type), _storable(dtype.item_type))
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(f.name, _storable(f.type)) for f in dtype])
    if pa.types.is_unsigned_integer(dtype):
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}.get(dtype.bit_width, pa.int64())
    return dtype
