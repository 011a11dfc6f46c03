"""Databricks SQL types <-> Arrow types.

Databricks DDL (``STRING``, ``ARRAY<FLOAT>``, ``STRUCT<a: INT, b: STRING>``, ``DECIMAL(10,2)``)
is parsed with sqlglot and mapped onto Arrow, the format DuckDB and delta-rs exchange. The
reverse mapping names Arrow types the way Databricks' ``DESCRIBE`` does.
"""

from __future__ import annotations

import pyarrow as pa
from sqlglot import exp
from sqlglot.errors import ParseError

from lakeinfer.errors import AnalysisError

DType = exp.DataType.Type

_PRIMITIVES: dict[DType, pa.DataType] = {
    DType.TEXT: pa.string(),
    DType.VARCHAR: pa.string(),
    DType.CHAR: pa.string(),
    DType.NVARCHAR: pa.string(),
    DType.BOOLEAN: pa.bool_(),
    DType.TINYINT: pa.int8(),
    DType.SMALLINT: pa.int16(),
    DType.INT: pa.int32(),
    DType.BIGINT: pa.int64(),
    DType.FLOAT: pa.float32(),
    DType.DOUBLE: pa.float64(),
    DType.DATE: pa.date32(),
    DType.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    DType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    DType.TIMESTAMPLTZ: pa.timestamp("us", tz="UTC"),
    DType.TIMESTAMPNTZ: pa.timestamp("us"),
    DType.BINARY: pa.binary(),
    DType.VARBINARY: pa.binary(),
}


def parse_ddl_type(text: str) -> exp.DataType:
    """Parse a Databricks type such as ``ARRAY<FLOAT>``; an :class:`AnalysisError` if invalid."""
    try:
        return exp.DataType.build(text, dialect="databricks")
    except (ParseError, ValueError) as exc:
        raise AnalysisError(f"invalid type {text!r}: {exc}") from None


def ddl_to_arrow(dtype: exp.DataType | str) -> pa.DataType:
    """Map a Databricks type (text or sqlglot node) onto the Arrow type lakeinfer stores."""
    if isinstance(dtype, str):
        dtype = parse_ddl_type(dtype)
    kind = dtype.this
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    if kind == DType.DECIMAL:
        params = [int(p.this.this) for p in dtype.expressions]
        precision, scale = (params + [10, 0][len(params) :])[:2] if params else (10, 0)
        return pa.decimal128(precision, scale)
    if kind == DType.ARRAY:
        return pa.list_(ddl_to_arrow(dtype.expressions[0]))
    if kind == DType.MAP:
        key, value = dtype.expressions
        return pa.map_(ddl_to_arrow(key), ddl_to_arrow(value))
    if kind == DType.STRUCT:
        fields = []
        for column in dtype.expressions:
            fields.append(pa.field(column.name, ddl_to_arrow(column.args["kind"])))
        return pa.struct(fields)
    raise AnalysisError(f"unsupported type {dtype.sql(dialect='databricks')}")


def arrow_to_ddl(dtype: pa.DataType) -> str:
    """Name an Arrow type the way Databricks' DESCRIBE does (``ARRAY<FLOAT>``, ``BIGINT``...)."""
    if (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    ):
        return "STRING"
    if pa.types.is_boolean(dtype):
        return "BOOLEAN"
    simple = {
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INT",
        pa.int64(): "BIGINT",
        pa.uint8(): "SMALLINT",
        pa.uint16(): "INT",
        pa.uint32(): "BIGINT",
        pa.uint64(): "DECIMAL(20,0)",
        pa.float16(): "FLOAT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.date32(): "DATE",
        pa.date64(): "DATE",
        pa.null(): "VOID",
    }
    if dtype in simple:
        return simple[dtype]
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP" if dtype.tz else "TIMESTAMP_NTZ"
    if pa.types.is_decimal(dtype):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "BINARY"
    if pa.types.is_map(dtype):
        return f"MAP<{arrow_to_ddl(dtype.key_type)},{arrow_to_ddl(dtype.item_type)}>"
    if (
        pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_fixed_size_list(dtype)
    ):
        return f"ARRAY<{arrow_to_ddl(dtype.value_type)}>"
    if pa.types.is_struct(dtype):
        inner = ", ".join(f"{f.name}: {arrow_to_ddl(f.type)}" for f in dtype)
        return f"STRUCT<{inner}>"
    return str(dtype).upper()


def storable_schema(schema: pa.Schema) -> pa.Schema:
    """The schema a result is written to Delta with: NULL-typed columns become STRING,
    view/large string and binary types become the plain ones delta-rs round-trips."""
    return pa.schema([pa.field(f.name, _storable(f.type)) for f in schema])


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
