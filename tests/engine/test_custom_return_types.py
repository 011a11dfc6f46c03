"""returnType casts the answers of custom endpoints; a failed cast is that row's error."""

from __future__ import annotations

import pytest

import lakeinfer
from lakeinfer.errors import EndpointError

ANSWERS = {"a": "0.25", "b": "not a number", "c": {"label": "pos", "score": 0.9, "extra": 1}}


@pytest.fixture
def session(home):
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as s:
        s.sql("CREATE TABLE t (id INT, k STRING)")
        s.sql("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        s.register_function("model", ANSWERS.__getitem__)
        yield s


def test_failed_cast_is_a_per_row_error_naming_the_type(session):
    rows = session.sql(
        "SELECT id, ai_query('model', k, returnType => 'DOUBLE', failOnError => false) AS r "
        "FROM t WHERE id < 3 ORDER BY id"
    ).to_pylist()
    assert rows[0]["r"] == {"result": 0.25, "errorMessage": None}
    assert rows[1]["r"] == {
        "result": None,
        "errorMessage": "cannot cast the model's answer 'not a number' to DOUBLE",
    }


def test_failed_cast_fails_the_statement_naming_endpoint_and_row(session):
    with pytest.raises(EndpointError) as error:
        session.sql(
            "SELECT ai_query('model', k, returnType => 'DOUBLE') FROM t ORDER BY id"
        ).to_arrow()
    assert str(error.value) == (
        "endpoint 'model' failed (row 2): cannot cast the model's answer 'not a number' to DOUBLE"
    )


def test_struct_return_type_keeps_the_named_fields(session):
    rows = session.sql(
        "SELECT ai_query('model', k, returnType => 'STRUCT<label: STRING, score: FLOAT>') AS r "
        "FROM t WHERE id = 3"
    ).to_pylist()
    assert rows == [{"r": {"label": "pos", "score": pytest.approx(0.9)}}]
