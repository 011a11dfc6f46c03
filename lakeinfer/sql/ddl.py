"""A strict parser for Databricks DDL type strings, with errors that name the position.

Every type lakeinfer reads as text is parsed here, and only here: ``returnType``,
``responseFormat => 'STRUCT<...>'``, ``from_json(x, 'STRUCT<a: INT, b: ARRAY<STRING>>')`` and its
column-list form ``'a INT, b STRING'``, the column types of CREATE TABLE, the return types of
Python functions. The parser is strict, by the Databricks grammar: an unknown type name is an
error naming it, its position in the string and the closest known name (``STRNG``: did you mean
STRING?), and so is a missing ``>`` or ``)``::

    type   := name ['(' int [',' int] ')'] | ARRAY '<' type '>' | MAP '<' type ',' type '>'
            | STRUCT '<' [field (',' field)*] '>'
    field  := ident [':'] type [NOT NULL] [COMMENT 'text']
    schema := type | field (',' field)*          -- the column-list form of from_json

Types map onto Arrow, the format DuckDB and delta-rs exchange (``TIMESTAMP`` is UTC-adjusted,
``TIMESTAMP_NTZ`` is not); :func:`to_ddl` names an Arrow type back in this grammar, so the two
round-trip. Helpers render a type for DuckDB and as a JSON schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from lakeinfer.errors import AnalysisError, did_you_mean

_SIMPLE: dict[str, pa.DataType] = {
    "STRING": pa.string(),
    "VARCHAR": pa.string(),
    "CHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "TINYINT": pa.int8(),
    "BYTE": pa.int8(),
    "SMALLINT": pa.int16(),
    "SHORT": pa.int16(),
    "INT": pa.int32(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "LONG": pa.int64(),
    "FLOAT": pa.float32(),
    "REAL": pa.float32(),
    "DOUBLE": pa.float64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "TIMESTAMP_LTZ": pa.timestamp("us", tz="UTC"),
    "TIMESTAMP_NTZ": pa.timestamp("us"),
    "BINARY": pa.binary(),
}
_DECIMAL = ("DECIMAL", "DEC", "NUMERIC")
_NESTED = ("ARRAY", "MAP", "STRUCT")
#: Every type name the parser knows (what a misspelt one is compared with).
TYPE_NAMES: tuple[str, ...] = (*_SIMPLE, *_DECIMAL, *_NESTED)
_TOKEN = re.compile(
    r"\s*(?:(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<quoted>`(?:[^`]|``)*`)|(?P<number>\d+)"
    r"|(?P<string>'(?:[^'\\]|\\.)*')|(?P<punct>[<>(),:]))"
)


@dataclass
class _Token:
    kind: str
    text: str
    position: int  # 1-based character position in the DDL string

    @property
    def value(self) -> str:
        if self.kind == "quoted":
            return self.text[1:-1].replace("``", "`")
        return self.text


class _Parser:
    def __init__(self, text: str, what: str):
        self.text = text
        self.what = what
        self.tokens = self._tokenize()
        self.index = 0

    def _tokenize(self) -> list[_Token]:
        tokens, position = [], 0
        while position < len(self.text):
            if not self.text[position:].strip():
                break
            match = _TOKEN.match(self.text, position)
            if match is None or match.end() == position:
                start = len(self.text) - len(self.text[position:].lstrip()) + 1
                self.fail(f"unexpected character {self.text[start - 1]!r}", start)
            kind = match.lastgroup or "punct"
            start = match.start(kind) + 1
            tokens.append(_Token(kind, match.group(kind), start))
            position = match.end()
        return tokens

    def fail(self, message: str, position: int | None = None, hint: str = "") -> None:
        if position is None:
            token = self.peek()
            position = token.position if token else len(self.text) + 1
        what = f"{self.what}: " if self.what else ""
        raise AnalysisError(
            f"{what}invalid type {self.text!r}: {message} at position {position}{hint}"
        )

    def peek(self, offset: int = 0) -> _Token | None:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            self.fail("unexpected end")
        assert token is not None
        self.index += 1
        return token

    def expect(self, text: str) -> None:
        token = self.peek()
        if token is None or token.text != text:
            found = f"{token.text!r}" if token else "the end"
            self.fail(f"expected {text!r}, found {found}")
        self.index += 1

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token.text.upper() == text:
            self.index += 1
            return True
        return False

    def at_end(self) -> bool:
        return self.index >= len(self.tokens)

    # -- grammar -----------------------------------------------------------------------
    def type_(self) -> pa.DataType:
        token = self.take()
        if token.kind != "word":
            self.fail(f"expected a type name, found {token.text!r}", token.position)
        name = token.text.upper()
        if name == "ARRAY":
            self.expect("<")
            element = self.type_()
            self.expect(">")
            return pa.list_(element)
        if name == "MAP":
            self.expect("<")
            key = self.type_()
            self.expect(",")
            value = self.type_()
            self.expect(">")
            return pa.map_(key, value)
        if name == "STRUCT":
            self.expect("<")
            fields = []
            if not self.accept(">"):
                fields = self.fields()
                self.expect(">")
            return pa.struct(fields)
        if name in _DECIMAL:
            precision, scale = 10, 0
            if self.accept("("):
                precision = self.integer()
                if self.accept(","):
                    scale = self.integer()
                self.expect(")")
            if not 1 <= precision <= 38 or not 0 <= scale <= precision:
                self.fail(f"DECIMAL({precision},{scale}) is out of range", token.position)
            return pa.decimal128(precision, scale)
        if name in _SIMPLE:
            if name in ("VARCHAR", "CHAR") and self.accept("("):
                self.integer()
                self.expect(")")
            return _SIMPLE[name]
        hint = did_you_mean(name, TYPE_NAMES).replace("'", "")
        self.fail(f"unknown type {token.text!r}", token.position, hint)
        raise AssertionError  # unreachable

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number":
            self.fail(f"expected a number, found {token.text!r}", token.position)
        return int(token.text)

    def fields(self) -> list[pa.Field]:
        fields = [self.field()]
        while self.accept(","):
            fields.append(self.field())
        names = [f.name.lower() for f in fields]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            self.fail(f"duplicate field name {duplicate!r} (names are compared ignoring case)", 1)
        return fields

    def field(self) -> pa.Field:
        token = self.take()
        if token.kind not in ("word", "quoted"):
            self.fail(f"expected a field name, found {token.text!r}", token.position)
        self.accept(":")
        dtype = self.type_()
        nullable = True
        if self.accept("NOT"):
            if not self.accept("NULL"):
                self.fail("expected NULL after NOT")
            nullable = False
        if self.accept("COMMENT"):
            comment = self.take()
            if comment.kind != "string":
                self.fail("expected a string after COMMENT", comment.position)
        return pa.field(token.value, dtype, nullable=nullable)

    def looks_like_field_list(self) -> bool:
        first, second = self.peek(), self.peek(1)
        if first is None or second is None:
            return False
        if second.text in ("<", "("):
            return False  # ARRAY<...>, DECIMAL(10, 2): a type
        return first.kind == "quoted" or second.text == ":" or second.kind == "word"


def parse_type(text: str, what: str) -> pa.DataType:
    """Parse one Databricks type (``STRING``, ``ARRAY<STRUCT<a: INT>>``, ...).

    ``what`` names the argument in errors, e.g. ``"from_json at line 1, column 8: schema"``.
    """
    parser = _Parser(text, what)
    if parser.at_end():
        parser.fail("the type is empty", 1)
    dtype = parser.type_()
    if not parser.at_end():
        parser.fail(f"unexpected {parser.take().text!r}", parser.tokens[parser.index - 1].position)
    return dtype


def parse_schema(text: str, what: str) -> pa.DataType:
    """Parse a ``from_json`` schema: a type, or a column list ``a INT, b STRING`` (a STRUCT)."""
    parser = _Parser(text, what)
    if parser.at_end():
        parser.fail("the schema is empty", 1)
    if parser.looks_like_field_list():
        dtype: pa.DataType = pa.struct(parser.fields())
    else:
        dtype = parser.type_()
    if not parser.at_end():
        parser.fail(f"unexpected {parser.take().text!r}", parser.tokens[parser.index - 1].position)
    return dtype


def quote_field(name: str) -> str:
    """A field name as Spark writes it in DDL: bare if it is a plain word, else backquoted."""
    if re.fullmatch(r"[A-Za-z0-9_]+", name) and not name.isdigit():
        return name
    return _backquote(name)


def _backquote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _is_list(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_fixed_size_list(dtype)
        or pa.types.is_list_view(dtype)
    )


def to_ddl(dtype: pa.DataType, map_separator: str = ",", quote_all: bool = False) -> str:
    """Name an Arrow type in the grammar :func:`parse_type` reads, the way Databricks'
    DESCRIBE does (``ARRAY<FLOAT>``, ``STRUCT<a: INT, `b c`: STRING>``, ``MAP<STRING,INT>``).

    Arrow types with no Databricks equivalent are named by the type they are stored as
    (unsigned integers widen, large and view strings are STRING). ``quote_all`` backquotes
    every field name, not only those that need it (names that are data, such as labels).
    """
    if pa.types.is_struct(dtype):
        quote = _backquote if quote_all else quote_field
        inner = ", ".join(
            f"{quote(f.name)}: {to_ddl(f.type, map_separator, quote_all)}" for f in dtype
        )
        return f"STRUCT<{inner}>"
    if _is_list(dtype):
        return f"ARRAY<{to_ddl(dtype.value_type, map_separator, quote_all)}>"
    if pa.types.is_map(dtype):
        key = to_ddl(dtype.key_type, map_separator, quote_all)
        item = to_ddl(dtype.item_type, map_separator, quote_all)
        return f"MAP<{key}{map_separator}{item}>"
    if pa.types.is_decimal(dtype):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP" if dtype.tz else "TIMESTAMP_NTZ"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "STRING"
    if pa.types.is_string_view(dtype):
        return "STRING"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "BINARY"
    if pa.types.is_binary_view(dtype):
        return "BINARY"
    other = {
        pa.uint8(): "SMALLINT",
        pa.uint16(): "INT",
        pa.uint32(): "BIGINT",
        pa.uint64(): "DECIMAL(20,0)",
        pa.float16(): "FLOAT",
        pa.date64(): "DATE",
        pa.null(): "VOID",
    }
    if dtype in other:
        return other[dtype]
    for name, simple in _SIMPLE.items():
        if simple == dtype:
            return name
    return str(dtype).upper()


def to_spark_ddl(dtype: pa.DataType) -> str:
    """The DDL text Spark prints for ``dtype`` (``STRUCT<a: BIGINT, b: MAP<STRING, INT>>``)."""
    return to_ddl(dtype, map_separator=", ")


#: DuckDB's names of the Arrow types that have one (others are named by what they are stored
#: as, through their DDL name: large and view strings are VARCHAR, ...)
_DUCKDB = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.uint8(): "UTINYINT",
    pa.uint16(): "USMALLINT",
    pa.uint32(): "UINTEGER",
    pa.uint64(): "UBIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.date32(): "DATE",
    pa.binary(): "BLOB",
}


def to_duckdb(dtype: pa.DataType) -> str:
    """The DuckDB type text for ``dtype``, field names quoted (the Arrow -> DuckDB counterpart
    of :func:`to_ddl`, which it follows for types DuckDB names no differently)."""
    if pa.types.is_struct(dtype):
        inner = ", ".join('"' + f.name.replace('"', '""') + '" ' + to_duckdb(f.type) for f in dtype)
        return f"STRUCT({inner})"
    if _is_list(dtype):
        return f"{to_duckdb(dtype.value_type)}[]"
    if pa.types.is_map(dtype):
        return f"MAP({to_duckdb(dtype.key_type)}, {to_duckdb(dtype.item_type)})"
    if pa.types.is_decimal(dtype):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ" if dtype.tz else "TIMESTAMP"
    if dtype in _DUCKDB:
        return _DUCKDB[dtype]
    try:
        stored = parse_type(to_ddl(dtype), "type")
    except AnalysisError:
        stored = dtype
    if stored == dtype:
        raise AnalysisError(f"the type {to_ddl(dtype)} has no DuckDB equivalent")
    return to_duckdb(stored)


def to_json_schema(dtype: pa.DataType) -> dict[str, Any]:
    """A JSON schema (the subset OpenAI's strict structured outputs accept) for ``dtype``.

    Every struct field is required and no other properties are allowed; nullable fields are
    still required keys (the model writes them), as strict mode demands.
    """
    if pa.types.is_struct(dtype):
        return {
            "type": "object",
            "properties": {f.name: to_json_schema(f.type) for f in dtype},
            "required": [f.name for f in dtype],
            "additionalProperties": False,
        }
    if pa.types.is_list(dtype):
        return {"type": "array", "items": to_json_schema(dtype.value_type)}
    if pa.types.is_map(dtype):
        return {"type": "object", "additionalProperties": to_json_schema(dtype.item_type)}
    if pa.types.is_boolean(dtype):
        return {"type": "boolean"}
    if pa.types.is_integer(dtype):
        return {"type": "integer"}
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return {"type": "number"}
    if pa.types.is_date(dtype):
        return {"type": "string", "format": "date"}
    if pa.types.is_timestamp(dtype):
        return {"type": "string", "format": "date-time"}
    return {"type": "string"}
