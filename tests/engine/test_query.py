"""Result types of queries, as Databricks gives them."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakeinfer.errors import SqlError


def test_integer_sums_are_bigint_also_when_written_to_a_table(session):
    result = session.sql(
        "SELECT sum(x) AS s, count_if(x > 1) AS c, sum(CAST(x AS DOUBLE)) AS d "
        "FROM VALUES (1), (2), (2) AS t(x)"
    ).to_arrow()
    assert result.to_pylist() == [{"s": 5, "c": 2, "d": 5.0}]
    assert result.schema.types == [pa.int64(), pa.int64(), pa.float64()]
    session.sql("CREATE TABLE totals AS SELECT sum(id) AS total FROM range(10)")
    assert session.sql("DESCRIBE totals").to_pylist()[0]["data_type"] == "BIGINT"


def test_an_integer_sum_past_bigint_is_an_overflow_error(session):
    with pytest.raises(SqlError, match="arithmetic overflow"):
        session.sql("SELECT sum(x) AS s FROM VALUES (9223372036854775807), (1) AS t(x)").to_arrow()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT CAST('a' AS INT)",
            '[CAST_INVALID_INPUT] The value \'a\' of the type "STRING" cannot be cast to "INT"',
        ),
        ("SELECT id FROM range(3) AS t(id) WHERE id = 'x'", 'cannot be cast to "BIGINT"'),
        (
            "SELECT lowr('A')",
            "[UNRESOLVED_ROUTINE] Cannot resolve routine `lowr` on search path; "
            "did you mean 'lower'",
        ),
        ("SELECT sum(x) FROM VALUES ('a') AS t(x)", "argument types 'sum(VARCHAR)'"),
    ],
)
def test_engine_errors_name_the_problem_without_the_rewritten_query(session, sql, message):
    with pytest.raises(SqlError) as raised:
        session.sql(sql).to_pylist()
    text = str(raised.value)
    assert message in text
    # DuckDB's context shows the query lakeinfer ran (RANGE(3), __li_ names), not the user's
    assert "LINE 1" not in text and "Candidate functions" not in text and "\n" not in text
