"""Spark's JSON semantics, for the parts DuckDB does differently (checked against Spark 4).

- ``from_json``: :func:`conform` rewrites a JSON text so that every value already has the
  schema's type, the way Spark's parser in PERMISSIVE mode decides: a value of the wrong JSON
  kind (``"5"`` or ``1.5`` for an INT, ``1`` for a BOOLEAN, an out-of-range number) makes its
  struct field NULL and keeps the other fields (at any depth), a wrong array element makes the
  whole array NULL; malformed JSON gives a STRUCT whose fields are all NULL (NULL for ARRAY and
  MAP schemas); non-string values read as STRING become compact JSON text. DuckDB's
  ``json_transform`` then builds the typed value from the conformed text, which it can no
  longer read differently.
- ``:`` paths (and ``get_json_object`` with ``[*]``): :func:`extract_path` walks a path; string values
  come back unquoted, JSON ``null`` as SQL NULL, objects and arrays as compact JSON text,
  numbers in their shortest form (``1.50`` as ``1.5``), malformed JSON as NULL. ``:``
  identifiers match field names case-insensitively (an ambiguous match is an error), bracketed
  names exactly.
- ``to_json``: :func:`drop_null_fields` removes object members whose value is NULL, as Spark's
  ``to_json`` does by default (``ignoreNullFields``); NULL array elements are kept.
- ``schema_of_json``: :func:`infer_schema` infers the DDL Spark prints for a JSON literal.

:func:`register` installs the vectorised DuckDB functions these rewrites call.
"""

from __future__ import annotations

import json
import math
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
_loads = json.loads


def _dumps(value: Any) -> str:
    """Compact JSON (no spaces), as Spark writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Mismatch(Exception):
    """A JSON value that Spark's parser cannot read as the requested type."""


# -- from_json -------------------------------------------------------------------------------
Converter = Callable[[Any], Any]


@lru_cache(maxsize=256)
def _reader(ddl: str) -> Callable[[str], str | None]:
    """A function from JSON text to the conformed text, for schema ``ddl`` (see conform)."""
    dtype = parse_schema(ddl, "from_json: schema")
    if pa.types.is_struct(dtype):
        fields = [(f.name, _converter(f.type)) for f in dtype]

        def read_struct(text: str) -> str | None:
            try:
                value = _loads(text)
            except (ValueError, RecursionError):
                return "{}"  # malformed: every field NULL
            if not isinstance(value, dict):
                return "{}"
            row = {}
            for name, convert in fields:
                item = value.get(name)
                try:
                    row[name] = None if item is None else convert(item)
                except _Mismatch:
                    row[name] = None  # PERMISSIVE: this field only
            return _dumps(row)

        return read_struct
    convert = _converter(dtype)
    lone_object = pa.types.is_list(dtype) and pa.types.is_struct(dtype.value_type)

    def read_other(text: str) -> str | None:
        try:
            value = _loads(text)
        except (ValueError, RecursionError):
            return None
        if lone_object and isinstance(value, dict):
            value = [value]  # Spark reads a lone object as a one-element array of structs
        try:
            return None if value is None else _dumps(convert(value))
        except _Mismatch:
            return None

    return read_other


def conform(text: str | None, ddl: str) -> str | None:
    """``text`` rewritten so that each value has the type of schema ``ddl`` (Spark's rules)."""
    return None if text is None else _reader(ddl)(text)


def _converter(dtype: pa.DataType) -> Converter:
    """A function that checks (and for STRING, renders) one non-null JSON value."""
    if pa.types.is_string(dtype):
        return lambda v: v if isinstance(v, str) else _dumps(v)
    if pa.types.is_boolean(dtype):
        return lambda v: v if isinstance(v, bool) else _fail()
    if pa.types.is_integer(dtype):
        bound = _INT_RANGES[dtype.bit_width]
        return lambda v: (
            v if type(v) is int and -bound <= v < bound else _fail()  # bool is no int here
        )
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return lambda v: v if (type(v) is int or type(v) is float) and math.isfinite(v) else _fail()
    if pa.types.is_date(dtype) or pa.types.is_timestamp(dtype) or pa.types.is_binary(dtype):
        return lambda v: v if isinstance(v, str) else _fail()
    if pa.types.is_list(dtype):
        element = _converter(dtype.value_type)
        return lambda v: (
            [None if x is None else element(x) for x in v] if isinstance(v, list) else _fail()
        )
    if pa.types.is_map(dtype):
        item = _converter(dtype.item_type)
        return lambda v: (
            {k: None if x is None else item(x) for k, x in v.items()}
            if isinstance(v, dict)
            else _fail()
        )
    if pa.types.is_struct(dtype):
        fields = [(f.name, _converter(f.type)) for f in dtype]

        def convert_struct(v: Any) -> Any:
            if not isinstance(v, dict):
                raise _Mismatch
            row = {}
            for name, convert in fields:
                try:
                    row[name] = None if v.get(name) is None else convert(v[name])
                except _Mismatch:
                    row[name] = None  # partial results, as Spark 4 keeps them
            return row

        return convert_struct
    raise AnalysisError(f"from_json: unsupported type {dtype}")


def _fail() -> Any:
    raise _Mismatch


# -- paths -----------------------------------------------------------------------------------
#: one step of a path: ("key", name, exact) | ("index", n) | ("wildcard",)
Step = tuple


def extract_path(text: str | None, steps: list[Step], unwrap_single: bool = False) -> str | None:
    """The value at ``steps`` in JSON ``text`` as Databricks' ``:`` returns it (see module doc).

    ``unwrap_single``: a wildcard that matches one value gives that value rather than a
    one-element array, as ``get_json_object`` does.
    """
    if text is None:
        return None
    try:
        value = _loads(text)
    except (ValueError, RecursionError):
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
    if spread and not (unwrap_single and len(values) == 1):
        return _dumps(values)
    result = values[0]
    if result is None:
        return None
    return result if isinstance(result, str) else _dumps(result)


def _step(current: Any, step: Step) -> Any:
    if step[0] == "index":
        if isinstance(current, list) and 0 <= step[1] < len(current):
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
    value = json.loads(text, parse_int=_RawNumber, parse_float=_RawNumber)
    return _raw_dumps(_without_nulls(value))


class _RawNumber(str):
    """A JSON number kept as written (``1.50`` of a DECIMAL stays ``1.50``)."""


def _raw_dumps(value: Any) -> str:
    if isinstance(value, _RawNumber):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(_raw_dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_dumps(k)}:{_raw_dumps(v)}" for k, v in value.items()) + "}"
    return _dumps(value)


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
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return pa.int64()
        digits = len(str(abs(value)))
        return pa.decimal128(digits, 0) if digits <= 38 else pa.float64()
    if isinstance(value, float):
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
def _spec(spec: str) -> tuple[list[Step], bool]:
    value = json.loads(spec)
    return [tuple(step) for step in value["steps"]], bool(value.get("unwrap_single"))


def path_spec(steps: list[list[Any]], unwrap_single: bool) -> str:
    """The text form of a path that the SQL passes to the path function."""
    return json.dumps({"steps": steps, "unwrap_single": unwrap_single})


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
    steps, unwrap_single = _spec(spec)
    return extract_path(value, steps, unwrap_single)


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Install the functions the translated SQL calls on ``con`` (again: replaces them)."""
    text = sqltypes.VARCHAR
    functions = [
        (FROM_JSON, _binary(conform), [text, text]),
        (JSON_PATH, _binary(_path), [text, text]),
        (TO_JSON, _unary(drop_null_fields), [text]),
    ]
    for name, udf, parameters in functions:
        try:
            con.remove_function(name)
        except duckdb.InvalidInputException:
            pass  # not installed yet
        try:
            con.create_function(
                name,
                udf,
                parameters,
                text,
                type=PythonUDFType.ARROW,
                null_handling=FunctionNullHandling.SPECIAL,
            )
        except duckdb.CatalogException:
            pass  # installed through another cursor of the same database: the same function
