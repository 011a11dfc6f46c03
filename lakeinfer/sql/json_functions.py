"""Spark's JSON semantics, for the parts DuckDB does differently.

- ``from_json``: :func:`conform` rewrites a JSON text so that every value already has the
  schema's type, the way Spark's parser in PERMISSIVE mode decides: a value of the wrong JSON
  kind (``"5"`` or ``1.5`` for an INT, ``1`` for a BOOLEAN, an out-of-range number) becomes
  NULL for its top-level field, other fields are kept; malformed JSON gives a STRUCT whose
  fields are all NULL (NULL for ARRAY and MAP schemas); non-string values read as STRING keep
  their JSON text. DuckDB's ``json_transform`` then builds the typed value from the conformed
  text, which it can no longer read differently.
- ``:`` paths and ``get_json_object``: :func:`extract_path` walks a parsed path; string values
  come back unquoted, JSON ``null`` as SQL NULL, objects and arrays as compact JSON text, numbers
  as written, malformed JSON as NULL. ``:`` identifiers match field names case-insensitively (an
  ambiguous match is an error), bracketed names exactly.
- ``to_json``: :func:`drop_null_fields` removes object members whose value is NULL, as Spark's
  ``to_json`` does by default (``ignoreNullFields``); NULL array elements are kept.
- ``schema_of_json``: :func:`infer_schema` infers the DDL Spark prints for a JSON literal.

:func:`register` installs the vectorised DuckDB functions these rewrites call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import duckdb
import pyarrow as pa
from duckdb import sqltypes
from duckdb.func import FunctionNullHandling, PythonUDFType

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.ddl import parse_schema, to_spark_ddl

FROM_JSON = "__li_from_json"
JSON_PATH = "__li_json_path"
TO_JSON = "__li_to_json"

_MISSING = object()
_INT_RANGES = {8: 2**7, 16: 2**15, 32: 2**31, 64: 2**63}


class _Number(str):
    """A JSON number kept as the text it was written with."""

    @property
    def is_integer(self) -> bool:
        return not any(c in self for c in ".eE")


def _loads(text: str) -> Any:
    return json.loads(
        text, parse_int=_Number, parse_float=_Number, parse_constant=lambda c: _Number(c)
    )


def _dumps(value: Any) -> str:
    """Compact JSON, numbers exactly as they were read."""
    if value is None:
        return "null"
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_dumps(v)}" for k, v in value.items())
            + "}"
        )
    return json.dumps(value)


class _Mismatch(Exception):
    """A JSON value that Spark's parser cannot read as the requested type."""


# -- from_json -------------------------------------------------------------------------------
@lru_cache(maxsize=256)
def _schema(ddl: str) -> pa.DataType:
    return parse_schema(ddl, "from_json: schema")


def conform(text: str | None, ddl: str) -> str | None:
    """``text`` rewritten so that each value has the type of schema ``ddl`` (Spark's rules)."""
    if text is None:
        return None
    dtype = _schema(ddl)
    try:
        value = _loads(text)
    except (json.JSONDecodeError, RecursionError):
        value = _MISSING
    if pa.types.is_struct(dtype):
        if not isinstance(value, dict):
            return "{}"  # malformed or not an object: every field NULL
        row = {}
        for field in dtype:
            try:
                row[field.name] = _convert(value.get(field.name), field.type)
            except _Mismatch:
                row[field.name] = None  # PERMISSIVE: this field only
        return _dumps(row)
    if value is _MISSING:
        return None
    if pa.types.is_list(dtype) and isinstance(value, dict) and pa.types.is_struct(dtype.value_type):
        value = [value]  # Spark reads a lone object as a one-element array of structs
    try:
        return _dumps(_convert(value, dtype))
    except _Mismatch:
        return None


def _convert(value: Any, dtype: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_string(dtype):
        return value if isinstance(value, str) and not isinstance(value, _Number) else _dumps(value)
    if pa.types.is_boolean(dtype):
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if pa.types.is_integer(dtype):
        if isinstance(value, _Number) and value.is_integer:
            number = int(value)
            bound = _INT_RANGES[dtype.bit_width]
            if -bound <= number < bound:
                return value
        raise _Mismatch
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        if isinstance(value, _Number) and value not in ("NaN", "Infinity", "-Infinity"):
            return value
        raise _Mismatch
    if pa.types.is_date(dtype) or pa.types.is_timestamp(dtype) or pa.types.is_binary(dtype):
        if isinstance(value, str) and not isinstance(value, _Number):
            return value
        raise _Mismatch
    if pa.types.is_list(dtype):
        if isinstance(value, list):
            return [_convert(v, dtype.value_type) for v in value]
        raise _Mismatch
    if pa.types.is_map(dtype):
        if isinstance(value, dict):
            return {k: _convert(v, dtype.item_type) for k, v in value.items()}
        raise _Mismatch
    if pa.types.is_struct(dtype):
        if isinstance(value, dict):
            return {f.name: _convert(value.get(f.name), f.type) for f in dtype}
        raise _Mismatch
    raise _Mismatch


# -- paths -----------------------------------------------------------------------------------
#: one step of a path: ("key", name, exact) | ("index", n) | ("wildcard",)
Step = tuple


def extract_path(text: str | None, steps: list[Step]) -> str | None:
    """The value at ``steps`` in JSON ``text`` as Databricks' ``:`` returns it (see module doc)."""
    if text is None:
        return None
    try:
        value = _loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    values, spread = [value], False
    for step in steps:
        found = []
        for current in values:
            if step[0] == "wildcard":
                if isinstance(current, list):
                    found.extend(current)
                spread = True
                continue
            item = _step(current, step)
            if item is not _MISSING:
                found.append(item)
        values = found
        if not values:
            return None
    if spread:
        return _dumps(values)
    result = values[0]
    if result is None:
        return None
    if isinstance(result, str) and not isinstance(result, _Number):
        return result
    return _dumps(result)


def _step(current: Any, step: Step) -> Any:
    if step[0] == "index":
        if isinstance(current, list) and -len(current) <= step[1] < len(current) and step[1] >= 0:
            return current[step[1]]
        return _MISSING
    if not isinstance(current, dict):
        return _MISSING
    name, exact = step[1], step[2]
    if exact:
        return current.get(name, _MISSING)
    matches = [key for key in current if key.lower() == name.lower()]
    if len(matches) > 1:
        raise AnalysisError(
            f"JSON path field {name!r} is ambiguous (fields {', '.join(map(repr, matches))}); "
            f"name it exactly with brackets, e.g. x:[{matches[0]!r}]"
        )
    return current[matches[0]] if matches else _MISSING


# -- to_json ---------------------------------------------------------------------------------
def drop_null_fields(text: str | None) -> str | None:
    """``text`` without object members whose value is null (at any depth)."""
    if text is None or "null" not in text:
        return text
    return _dumps(_without_nulls(_loads(text)))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# -- schema_of_json --------------------------------------------------------------------------
def infer_schema(text: str, what: str = "schema_of_json") -> str:
    """The DDL Spark infers for the JSON ``text``: integers BIGINT, other numbers DOUBLE,
    fields sorted by name, null and empty arrays as STRING, conflicting kinds as STRING."""
    try:
        value = _loads(text)
    except json.JSONDecodeError as exc:
        raise AnalysisError(
            f"{what}: malformed JSON at position {exc.pos + 1}: {exc.msg}"
        ) from None
    dtype = _canonical(_infer(value))
    return to_spark_ddl(dtype if dtype is not None else pa.struct([]))


def _infer(value: Any) -> pa.DataType:
    if value is None:
        return pa.null()
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, _Number):
        if value.is_integer and value not in ("NaN", "Infinity", "-Infinity"):
            number = int(value)
            if -(2**63) <= number < 2**63:
                return pa.int64()
            digits = len(str(abs(number)))
            return pa.decimal128(digits, 0) if digits <= 38 else pa.float64()
        return pa.float64()
    if isinstance(value, str):
        return pa.string()
    if isinstance(value, list):
        element: pa.DataType = pa.null()
        for item in value:
            element = _merge(element, _infer(item))
        return pa.list_(element)
    fields = sorted(((k, _infer(v)) for k, v in value.items()), key=lambda kv: kv[0])
    return pa.struct([pa.field(k, t) for k, t in fields])


def _merge(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)
    if any(t(a) for t in numeric) and any(t(b) for t in numeric):
        return pa.float64()
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        merged = {f.name: f.type for f in a}
        for f in b:
            merged[f.name] = _merge(merged[f.name], f.type) if f.name in merged else f.type
        return pa.struct([pa.field(k, merged[k]) for k in sorted(merged)])
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(_merge(a.value_type, b.value_type))
    return pa.string()


def _canonical(dtype: pa.DataType) -> pa.DataType | None:
    if pa.types.is_null(dtype):
        return pa.string()
    if pa.types.is_list(dtype):
        element = _canonical(dtype.value_type)
        return pa.list_(element) if element is not None else None
    if pa.types.is_struct(dtype):
        fields = [(f.name, _canonical(f.type)) for f in dtype if f.name]
        kept = [pa.field(n, t) for n, t in fields if t is not None]
        return pa.struct(kept) if kept else None
    return dtype


# -- DuckDB functions ------------------------------------------------------------------------
@lru_cache(maxsize=256)
def _steps(spec: str) -> list[Step]:
    return [tuple(step) for step in json.loads(spec)]


def _unary(fn: Callable[[Any], str | None]) -> Callable[[pa.Array], pa.Array]:
    def udf(values: pa.Array) -> pa.Array:
        return pa.array([fn(v) for v in values.to_pylist()], type=pa.string())

    return udf


def _binary(fn: Callable[[Any, Any], str | None]) -> Callable[[pa.Array, pa.Array], pa.Array]:
    def udf(values: pa.Array, arguments: pa.Array) -> pa.Array:
        pairs = zip(values.to_pylist(), arguments.to_pylist(), strict=True)
        return pa.array([fn(v, a) for v, a in pairs], type=pa.string())

    return udf


def _path(value: str | None, spec: str) -> str | None:
    return extract_path(value, _steps(spec))


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Install the functions the translated SQL calls on ``con``."""
    text = sqltypes.VARCHAR
    functions = [
        (FROM_JSON, _binary(conform), [text, text]),
        (JSON_PATH, _binary(_path), [text, text]),
        (TO_JSON, _unary(drop_null_fields), [text]),
    ]
    for name, udf, parameters in functions:
        con.create_function(
            name,
            udf,
            parameters,
            text,
            type=PythonUDFType.ARROW,
            null_handling=FunctionNullHandling.SPECIAL,
        )
