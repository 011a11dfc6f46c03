"""Python functions registered from the API answer ai_query as custom models."""

from __future__ import annotations

import pytest

import lakeinfer
from lakeinfer.errors import AnalysisError, ConfigError, EndpointError


@pytest.fixture
def session(home):
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as s:
        s.sql("CREATE TABLE t (id INT, a DOUBLE, b DOUBLE, txt STRING)")
        s.sql(
            "INSERT INTO t VALUES (1, 1, 2, 'x'), (2, 3, 1, 'y'), (3, 1, 2, 'x'), "
            "(4, NULL, NULL, NULL)"
        )
        yield s


def test_struct_requests_arrive_as_records_once_per_distinct_request(session):
    seen = []

    def score(record):
        seen.append(record)
        return record["a"] * 2 + record["b"]

    session.register_function("score", score, return_type="DOUBLE")
    rows = session.sql(
        "SELECT id, ai_query('score', named_struct('a', a, 'b', b)) AS s FROM t "
        "WHERE a IS NOT NULL ORDER BY id"
    ).to_pylist()
    assert rows == [{"id": 1, "s": 4.0}, {"id": 2, "s": 7.0}, {"id": 3, "s": 4.0}]
    assert seen == [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 1.0}]
    described = session.sql(
        "CREATE TABLE scored AS SELECT ai_query('score', named_struct('a', a, 'b', b)) AS s "
        "FROM t WHERE a IS NOT NULL; DESCRIBE scored"
    ).to_pylist()
    assert described == [{"col_name": "s", "data_type": "DOUBLE", "comment": None}]


def test_a_failing_row_is_a_row_error_and_the_others_are_answered(session):
    def fragile(text):
        if text == "y":
            raise ValueError("cannot score y")
        return len(text)

    session.register_function("fragile", fragile, return_type="INT")
    rows = session.sql(
        "SELECT id, ai_query('fragile', txt, failOnError => false) AS r FROM t ORDER BY id"
    ).to_pylist()
    assert rows[0]["r"] == {"result": 1, "errorMessage": None}
    assert rows[1]["r"]["result"] is None
    assert "ValueError: cannot score y" in rows[1]["r"]["errorMessage"]
    assert rows[3]["r"] == {"result": None, "errorMessage": None}  # NULL request: no call
    with pytest.raises(EndpointError, match=r"'fragile' failed \(row 2\).*cannot score y"):
        session.sql("SELECT ai_query('fragile', txt) FROM t ORDER BY id").to_arrow()


def test_batched_function_gets_lists(session):
    batches = []

    def upper(texts):
        batches.append(list(texts))
        return [t.upper() for t in texts]

    session.register_function("upper", upper, return_type="STRING", batched=True)
    rows = session.sql("SELECT ai_query('upper', txt) AS u FROM t ORDER BY id").to_pylist()
    assert [r["u"] for r in rows] == ["X", "Y", "X", None]
    assert batches == [["x", "y"]]


def test_without_return_type_the_query_says_returntype_is_required(session):
    session.register_function("raw", lambda v: v)
    with pytest.raises(AnalysisError, match="returnType is required"):
        session.sql("SELECT ai_query('raw', txt) FROM t").to_arrow()
    rows = session.sql(
        "SELECT ai_query('raw', txt, returnType => 'STRING') AS r FROM t ORDER BY id"
    ).to_pylist()
    assert [r["r"] for r in rows] == ["x", "y", "x", None]


def test_register_function_checks_its_arguments(session):
    with pytest.raises(ConfigError, match="not callable"):
        session.register_function("f", 42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="return_type"):
        session.register_function("f", str, return_type="NOT A TYPE<")
    with pytest.raises(ConfigError, match="invalid endpoint name"):
        session.register_function("bad name", str)


def test_function_answers_are_not_kept_across_sessions(home):
    for version in (1, 2):
        with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
            session.register_function("v", lambda _, v=version: v, return_type="INT")
            assert session.sql("SELECT ai_query('v', 'x') AS r").to_pylist() == [{"r": version}]
