"""Databricks semantics DuckDB does not share: ANSI division, the current namespace, Spark's
names for unaliased expressions."""

from __future__ import annotations

import pytest

from lakeinfer.errors import SqlError
from lakeinfer.sql.parse import parse_statements
from lakeinfer.sql.translate import DIVIDE_BY_ZERO, spark_name


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1/0",
        "SELECT x / y FROM VALUES (1, 0) AS t(x, y)",
        "SELECT 1.5 / (2 - 2)",
        "SELECT 5 % 0",
        "SELECT 5 div 0",
    ],
)
def test_division_by_zero_raises_as_in_ansi_mode(session, sql):
    with pytest.raises(SqlError) as raised:
        session.sql(sql).to_pylist()
    assert str(raised.value) == DIVIDE_BY_ZERO


def test_try_divide_and_nonzero_divisors_are_unchanged(session):
    row = session.sql(
        "SELECT try_divide(1, 0) AS t, x / 2 AS h, x / y AS q, 0.0 / y AS z "
        "FROM VALUES (1, 4) AS t(x, y)"
    ).to_pylist()[0]
    assert row == {"t": None, "h": 0.5, "q": 0.25, "z": 0.0}


def test_current_catalog_and_schema_are_the_sessions(session):
    session.sql("CREATE SCHEMA IF NOT EXISTS other")
    session.sql("USE other")
    row = session.sql("SELECT current_catalog(), current_schema(), current_database()")
    assert row.to_pylist() == [
        {"current_catalog()": "main", "current_schema()": "other", "current_database()": "other"}
    ]


def test_unaliased_expressions_are_named_as_spark_names_them(session):
    counts = session.sql("SELECT count(*), COUNT(x) FROM VALUES (2) AS t(x)")
    assert counts.to_arrow().column_names == ["count(1)", "count(x)"]
    divided = session.sql("SELECT x / 2, round(x / 4, 1) FROM VALUES (2) AS t(x)")
    assert divided.to_arrow().column_names == ["(x / 2)", "round((x / 4), 1)"]
    tree = parse_statements("SELECT a + b * c")[0]
    assert spark_name(tree.selects[0]) == "(a + (b * c))"
