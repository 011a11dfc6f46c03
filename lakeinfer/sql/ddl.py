"""A strict parser for Databricks DDL type strings, with errors that name the position.

``from_json(x, 'STRUCT<a: INT, b: ARRAY<STRING>>')``, ``from_json(x, 'a INT, b STRING')`` and
``responseFormat => 'STRUCT<...>'`` take a type as text. sqlglot's type builder is lenient
(``STRUCT<a: INT, b: STRNG>`` silently loses ``b``), so these strings are parsed here, by the
Databricks grammar::

    type   := name ['(' int [',' int] ')'] | ARRAY '<' type '>' | MAP '<' type ',' type '>'
            | STRUCT '<' [field (',' field)*] '>'
    field  := ident [':'] type [NOT NULL] [COMMENT 'text']
    schema := type | field (',' field)*          -- the column-list form of from_json

Types map onto Arrow as :mod:`lakeinfer.sql.types` does (``TIMESTAMP`` is UTC-adjusted,
``TIMESTAMP_NTZ`` is not). Helpers render a type for DuckDB and as a JSON schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from lakeinfer.errors import AnalysisError

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

    def fail(self, message: str, position: int | None = None) -> None:
        if position is None:
            token = self.peek()
            position = token.position if token else len(self.text) + 1
        raise AnalysisError(
            f"{self.what}: invalid type {self.text!r}: {message} at position {position}"
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
        self.fail(f"unknown type {token.text!r}", token.position)
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
    return "`" + name.replace("`", "``") + "`"


def to_spark_ddl(dtype: pa.DataType) -> str:
    """The DDL text Spark prints for ``dtype`` (``STRUCT<a: BIGINT, b: ARRAY<STRING>>``)."""
    if pa.types.is_struct(dtype):
        inner = ", ".join(f"{quote_field(f.name)}: {to_spark_ddl(f.type)}" for f in dtype)
        return f"STRUCT<{inner}>"
    if pa.types.is_list(dtype):
        return f"ARRAY<{to_spark_ddl(dtype.value_type)}>"
    if pa.types.is_map(dtype):
        return f"MAP<{to_spark_ddl(dtype.key_type)}, {to_spark_ddl(dtype.item_type)}>"
    if pa.types.is_decimal(dtype):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP" if dtype.tz else "TIMESTAMP_NTZ"
    for name, simple in _SIMPLE.items():
        if simple == dtype:
            return name
    raise AnalysisError(f"type {dtype} has no Databricks name")


def to_duckdb(dtype: pa.DataType) -> str:
    """The DuckDB type text for ``dtype``, field names quoted."""
    if pa.types.is_struct(dtype):
        inner = ", ".join('"' + f.name.replace('"', '""') + '" ' + to_duckdb(f.type) for f in dtype)
        return f"STRUCT({inner})"
    if pa.types.is_list(dtype):
        return f"{to_duckdb(dtype.value_type)}[]"
    if pa.types.is_map(dtype):
        return f"MAP({to_duckdb(dtype.key_type)}, {to_duckdb(dtype.item_type)})"
    if pa.types.is_decimal(dtype):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ" if dtype.tz else "TIMESTAMP"
    simple = {
        pa.string(): "VARCHAR",
        pa.bool_(): "BOOLEAN",
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.date32(): "DATE",
        pa.binary(): "BLOB",
    }
    return simple[dtype]


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
