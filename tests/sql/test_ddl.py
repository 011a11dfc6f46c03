from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.ddl import (
    parse_schema,
    parse_type,
    to_ddl,
    to_duckdb,
    to_json_schema,
    to_spark_ddl,
)

AB = pa.struct([("a", pa.int32()), ("b", pa.string())])


@pytest.mark.parametrize(
    "text",
    ["STRUCT<a: INT, b: STRING>", "struct<a int, b string>", "a INT, b STRING", "a: INT, b STRING"],
)
def test_struct_and_column_list_forms(text):
    assert parse_schema(text, "x") == AB


def test_nested_types_quoted_names_and_clauses():
    dtype = parse_type(
        "STRUCT<`a b`: ARRAY<DECIMAL(10, 2)>, m: MAP<STRING, BIGINT> NOT NULL COMMENT 'x', "
        "t: TIMESTAMP, n: TIMESTAMP_NTZ, d: DATE, f: FLOAT, y: TINYINT, v: VARCHAR(3)>",
        "x",
    )
    assert dtype == pa.struct(
        [
            ("a b", pa.list_(pa.decimal128(10, 2))),
            pa.field("m", pa.map_(pa.string(), pa.int64()), nullable=False),
            ("t", pa.timestamp("us", tz="UTC")),
            ("n", pa.timestamp("us")),
            ("d", pa.date32()),
            ("f", pa.float32()),
            ("y", pa.int8()),
            ("v", pa.string()),
        ]
    )
    assert to_spark_ddl(dtype) == (
        "STRUCT<`a b`: ARRAY<DECIMAL(10,2)>, m: MAP<STRING, BIGINT>, t: TIMESTAMP, "
        "n: TIMESTAMP_NTZ, d: DATE, f: FLOAT, y: TINYINT, v: STRING>"
    )
    assert to_duckdb(dtype).startswith('STRUCT("a b" DECIMAL(10,2)[], "m" MAP(VARCHAR, BIGINT)')


def test_a_column_named_like_a_type_is_a_column():
    assert parse_schema("array ARRAY<INT>", "x") == pa.struct([("array", pa.list_(pa.int32()))])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("STRUCT<a: INT, b: STRNG>", "unknown type 'STRNG' at position 19"),
        ("STRUCT<a: INT", "expected '>', found the end at position 14"),
        ("STRUCT<a: INT> x", "unexpected 'x' at position 16"),
        ("a INT; b INT", "unexpected character ';' at position 6"),
        ("", "the schema is empty at position 1"),
        ("DECIMAL(40, 2)", "DECIMAL(40,2) is out of range at position 1"),
        ("a INT, A STRING", "duplicate field name 'a'"),
        ("MAP<STRING>", "expected ',', found '>' at position 11"),
    ],
)
def test_errors_name_the_argument_and_position(text, message):
    with pytest.raises(AnalysisError) as error:
        parse_schema(text, "from_json: schema (argument 2)")
    assert str(error.value).startswith(f"from_json: schema (argument 2): invalid type {text!r}: ")
    assert message in str(error.value)


def test_json_schema_is_strict():
    assert to_json_schema(AB) == {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize(
    ("arrow", "duckdb_type"),
    [
        (pa.large_string(), "VARCHAR"),
        (pa.uint32(), "UINTEGER"),
        (pa.float16(), "FLOAT"),
        (pa.large_list(pa.string_view()), "VARCHAR[]"),
        (pa.struct([("r", pa.float32()), ("e", pa.string())]), 'STRUCT("r" FLOAT, "e" VARCHAR)'),
    ],
)
def test_every_type_an_answer_can_have_is_named_for_duckdb(arrow, duckdb_type):
    assert to_duckdb(arrow) == duckdb_type
    with duckdb.connect() as con:  # DuckDB reads the name back
        con.sql(f"SELECT CAST(NULL AS {duckdb_type})").fetchall()


def test_a_type_duckdb_cannot_hold_is_an_error_naming_it():
    with pytest.raises(AnalysisError, match="the type VOID has no DuckDB equivalent"):
        to_duckdb(pa.null())


def test_labels_are_quoted_when_every_field_is_asked_quoted():
    labels = pa.struct([("person", pa.string()), ("a b", pa.list_(pa.string()))])
    assert to_ddl(labels, quote_all=True) == "STRUCT<`person`: STRING, `a b`: ARRAY<STRING>>"
    assert to_ddl(labels) == "STRUCT<person: STRING, `a b`: ARRAY<STRING>>"
    assert parse_type(to_ddl(labels, quote_all=True), "x") == labels
