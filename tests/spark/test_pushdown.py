"""Which filters of a statement bound a table's scan: simple conjuncts of a join-free SELECT's
WHERE, with literals of the column's kind, converted exactly; everything else is left out."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sqlglot import parse_one

from lakeinfer.spark.files import DataFile
from lakeinfer.spark.pushdown import kept, scan_filters

SCHEMA = pa.schema(
    [("id", pa.int64()), ("day", pa.date32()), ("region", pa.string()), ("stars", pa.int32())]
)


def _filters(sql: str, relation: str = "t") -> list[list[str]] | None:
    found = scan_filters(parse_one(sql, read="databricks"), relation, SCHEMA)
    return None if found is None else [[repr(f) for f in place] for place in found]


def test_simple_conjuncts_become_filters_either_way_round():
    found = _filters(
        "SELECT * FROM t AS r WHERE r.id > 2 AND 5 >= stars AND region IN ('EU', 'US') "
        "AND day BETWEEN DATE '2024-01-01' AND '2024-02-01' AND region IS NOT NULL "
        "AND (id <=> -7) AND other.id = 3 AND upper(region) = 'EU' AND NOT (stars IS NULL)"
    )
    assert found == [
        [
            "GreaterThan(attribute=('id',), value=2)",
            "LessThanOrEqual(attribute=('stars',), value=5)",
            "In(attribute=('region',), value=('EU', 'US'))",
            "GreaterThanOrEqual(attribute=('day',), value=datetime.date(2024, 1, 1))",
            "LessThanOrEqual(attribute=('day',), value=datetime.date(2024, 2, 1))",
            "IsNotNull(attribute=('region',))",
            "EqualNullSafe(attribute=('id',), value=-7)",
            "IsNotNull(attribute=('stars',))",
        ]
    ]


@pytest.mark.parametrize(
    "where",
    [
        "id = 2.5",  # not an integer: Spark compares as decimals
        "stars = 10000000000",  # out of the column's range
        "region = 5",  # a number against text
        "id = '5'",  # text against a number
        "id = NULL",
        "id IN (1, 'x')",
        "id = 1 OR id = 2",
        "NOT id = 1",
        "id + 1 = 3",
        "id IN (SELECT id FROM u)",
        "id BETWEEN SYMMETRIC 5 AND 1",
    ],
)
def test_what_does_not_convert_exactly_is_left_to_spark(where):
    assert _filters(f"SELECT * FROM t WHERE {where}") is None


def test_joins_and_unfiltered_reads_read_every_file():
    assert _filters("SELECT * FROM t JOIN u ON t.id = u.id WHERE t.id = 3") is None
    assert _filters("SELECT * FROM t WHERE id = 1 UNION ALL SELECT * FROM t") is None
    assert _filters("SELECT * FROM t") is None
    both = _filters("SELECT * FROM t WHERE id = 1 UNION ALL SELECT * FROM t WHERE id = 2")
    assert sorted(both) == [
        ["EqualTo(attribute=('id',), value=1)"],
        ["EqualTo(attribute=('id',), value=2)"],
    ]


def _file(path: str, low: int, high: int, region: str) -> DataFile:
    return DataFile(
        path, 10, partition_values=(("region", region),), stats=(("id", low, high, 0),), records=5
    )


def test_a_file_is_kept_when_some_read_of_the_table_may_need_it():
    files = [_file("a", 1, 5, "EU"), _file("b", 6, 10, "EU"), _file("c", 1, 10, "US")]
    tree = parse_one(
        "SELECT * FROM t WHERE region = 'EU' AND id > 5 "
        "UNION ALL SELECT * FROM t WHERE id BETWEEN 2 AND 3 AND region = 'US'",
        read="databricks",
    )
    chosen = kept(files, scan_filters(tree, "t", SCHEMA), SCHEMA)
    assert [f.path for f in chosen] == ["b", "c"]
    assert kept(files, None, SCHEMA) == files
