from __future__ import annotations

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.types import arrow_to_ddl, ddl_to_arrow


@pytest.mark.parametrize(
    ("ddl", "arrow"),
    [
        ("STRING", pa.string()),
        ("BIGINT", pa.int64()),
        ("INT", pa.int32()),
        ("DOUBLE", pa.float64()),
        ("BOOLEAN", pa.bool_()),
        ("DATE", pa.date32()),
        ("TIMESTAMP", pa.timestamp("us", tz="UTC")),
        ("TIMESTAMP_NTZ", pa.timestamp("us")),
        ("DECIMAL(10,2)", pa.decimal128(10, 2)),
        ("ARRAY<FLOAT>", pa.list_(pa.float32())),
        ("MAP<STRING,INT>", pa.map_(pa.string(), pa.int32())),
        (
            "STRUCT<result: STRING, errorMessage: STRING>",
            pa.struct([("result", pa.string()), ("errorMessage", pa.string())]),
        ),
    ],
)
def test_databricks_types_round_trip(ddl, arrow):
    assert ddl_to_arrow(ddl) == arrow
    assert arrow_to_ddl(arrow) == ddl


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        (
            "STRUCT<a: INT",
            "invalid type 'STRUCT<a: INT': expected '>', found the end at position 14",
        ),
        (
            "STRUCT<a: INT, b: STRNG>",
            "unknown type 'STRNG' at position 19; did you mean STRING?",
        ),
        ("ARRAY<INT>>", "unexpected '>' at position 11"),
        ("DECIMAL(10, 2", "expected ')', found the end at position 14"),
        ("MAP<STRING, ARRAY<INT>", "expected '>', found the end at position 23"),
        ("INTEGR", "unknown type 'INTEGR' at position 1; did you mean INTEGER"),
        ("", "the type is empty"),
    ],
)
def test_malformed_types_are_refused_naming_the_token_and_its_position(ddl, message):
    with pytest.raises(AnalysisError) as error:
        ddl_to_arrow(ddl, "returnType")
    assert str(error.value).startswith("returnType: invalid type")
    assert message in str(error.value)


@pytest.mark.parametrize(
    "arrow",
    [
        pa.struct([("a b", pa.int32()), ("c`d", pa.list_(pa.string()))]),
        pa.map_(pa.string(), pa.struct([("x", pa.decimal128(38, 9))])),
        pa.list_(pa.timestamp("us")),
        pa.struct([("nested", pa.struct([("deep", pa.map_(pa.int64(), pa.binary()))]))]),
    ],
)
def test_names_of_arrow_types_parse_back_to_the_same_type(arrow):
    assert ddl_to_arrow(arrow_to_ddl(arrow)) == arrow


def test_a_parsed_column_type_goes_through_the_same_strict_parser():
    statement = sqlglot.parse_one(
        "CREATE TABLE t (a STRUCT<x: INT NOT NULL, y: ARRAY<DECIMAL(10,2)>>, b VARIANT)",
        read="databricks",
    )
    a, b = (
        column.args["kind"] for column in statement.find_all(exp.ColumnDef) if column.name in "ab"
    )
    assert ddl_to_arrow(a) == pa.struct(
        [pa.field("x", pa.int32(), nullable=False), ("y", pa.list_(pa.decimal128(10, 2)))]
    )
    with pytest.raises(AnalysisError, match="unknown type 'VARIANT' at position 1"):
        ddl_to_arrow(b)
