from __future__ import annotations

import pyarrow as pa
import pytest

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
