"""SQL functions (CREATE FUNCTION ... RETURN expr), inlined at planning, with the calls of an
ai_query inside them counted at the fake server."""

from __future__ import annotations

import pytest

import lakeinfer
from lakeinfer.errors import AnalysisError, SqlError, TableExistsError
from tests.conftest import configure

CORRECT_GRAMMAR = (
    "CREATE FUNCTION correct_grammar(text STRING) RETURNS STRING COMMENT 'fixes grammar' "
    "RETURN ai_query('my-llm', CONCAT('Correct this: ', text))"
)


@pytest.fixture
def s(home, fake_server):
    configure(home, fake_server, **{"my-llm": {"max_retries": 0}})
    with lakeinfer.connect(home, progress=False) as session:
        session.sql(
            "CREATE TABLE t AS SELECT * FROM VALUES ('i has a cat', 1), ('she go home', 2), "
            "('we was there', 3), ('he run fast', 4), ('they is here', 5) AS v(col, n)"
        )
        yield session


def test_documented_udf_wrapping_ai_query_under_limit_calls_the_model_per_row(s, fake_server):
    s.sql(CORRECT_GRAMMAR)
    s.sql("CREATE TABLE fixed AS SELECT col, correct_grammar(col) AS fixed FROM t LIMIT 3")
    assert fake_server.stats()["chat"] == 3  # LIMIT decided the rows before any call
    rows = s.sql("SELECT * FROM fixed ORDER BY col").to_pylist()
    assert len(rows) == 3
    assert all(r["fixed"] == f"echo: Correct this: {r['col']}" for r in rows)
    assert [(r["col_name"], r["data_type"]) for r in s.sql("DESCRIBE fixed").to_pylist()] == [
        ("col", "STRING"),
        ("fixed", "STRING"),
    ]


def test_inlined_calls_are_deduplicated_and_cached(s, fake_server):
    s.sql(CORRECT_GRAMMAR)
    s.sql("INSERT INTO t VALUES ('i has a cat', 6)")
    first = s.sql("SELECT n, correct_grammar(col) AS fixed FROM t ORDER BY n").to_pylist()
    assert fake_server.stats()["chat"] == 5  # six rows, five distinct requests
    assert first[0]["fixed"] == first[5]["fixed"]
    again = s.sql("SELECT n, main.default.correct_grammar(col) AS fixed FROM t ORDER BY n")
    assert again.to_pylist() == first
    assert fake_server.stats()["chat"] == 5  # answered from the response cache


def test_unaliased_call_is_named_as_written_and_explain_sees_the_ai_call(s):
    s.sql(CORRECT_GRAMMAR)
    result = s.sql("SELECT correct_grammar(col) FROM t WHERE n = 1")
    assert result.to_pylist() == [{"correct_grammar(col)": "echo: Correct this: i has a cat"}]
    plan = s.sql("EXPLAIN SELECT correct_grammar(col) FROM t LIMIT 2").to_pylist()
    assert "yields 2 rows" in plan[0]["plan"]
    assert "1 distinct" not in plan[1]["plan"] and "2 distinct requests" in plan[1]["plan"]


def test_persistent_function_is_stored_in_the_catalog_under_a_three_part_name(s, home):
    s.sql("CREATE SCHEMA tools")
    s.sql("CREATE FUNCTION tools.shout(x STRING) RETURNS STRING RETURN upper(x) || '!'")
    assert (home / "main" / "tools" / "shout" / "_lakeinfer_function.json").is_file()
    assert s.sql("SELECT main.tools.shout('hi') AS a, tools.shout('yo') AS b").to_pylist() == [
        {"a": "HI!", "b": "YO!"}
    ]
    with lakeinfer.connect(home, progress=False) as other:  # another session sees it
        other.sql("USE tools")
        assert other.sql("SELECT shout('x') AS a").to_pylist() == [{"a": "X!"}]
    with pytest.raises(TableExistsError, match="function main.tools.shout already exists"):
        s.sql("CREATE FUNCTION tools.shout(x STRING) RETURN x")
    s.sql("CREATE FUNCTION IF NOT EXISTS tools.shout(x STRING) RETURN x")
    s.sql("CREATE OR REPLACE FUNCTION tools.shout(x STRING) RETURN lower(x)")
    assert s.sql("SELECT tools.shout('HI') AS a").to_pylist() == [{"a": "hi"}]
    with pytest.raises(TableExistsError, match="a function of that name exists"):
        s.sql("CREATE TABLE tools.shout (id INT)")
    s.sql("CREATE TABLE tools.t (id INT)")
    with pytest.raises(TableExistsError, match="cannot create function main.tools.t: a table"):
        s.sql("CREATE FUNCTION tools.t(x INT) RETURN x")
    s.sql("DROP TABLE tools.t")
    with pytest.raises(SqlError, match="not empty"):
        s.sql("DROP SCHEMA tools")
    s.sql("DROP FUNCTION tools.shout")
    s.sql("DROP FUNCTION IF EXISTS tools.shout")
    with pytest.raises(SqlError, match="function not found: main.tools.shout"):
        s.sql("DROP FUNCTION tools.shout")
    s.sql("DROP SCHEMA tools")


def test_function_names_go_through_the_catalog_name_check(s, home):
    with pytest.raises(AnalysisError, match="invalid function name"):
        s.sql("CREATE FUNCTION `..`(x STRING) RETURN x")
    with pytest.raises(AnalysisError, match="invalid function name"):
        s.sql("CREATE FUNCTION `_x`(x STRING) RETURN x")
    assert not any(p.name.startswith("_x") for p in (home / "main" / "default").iterdir())


def test_temporary_functions_live_in_the_session_and_shadow_stored_ones(s, home):
    s.sql("CREATE FUNCTION f(x INT) RETURN x + 1")
    s.sql("CREATE TEMPORARY FUNCTION f(x INT) RETURN x + 100")
    assert s.sql("SELECT f(1) AS a, main.default.f(1) AS b").to_pylist() == [{"a": 101, "b": 2}]
    with lakeinfer.connect(home, progress=False) as other:
        assert other.sql("SELECT f(1) AS a").to_pylist() == [{"a": 2}]
    with pytest.raises(SqlError, match="temporary function f already exists"):
        s.sql("CREATE TEMPORARY FUNCTION f(x INT) RETURN x")
    s.sql("DROP TEMPORARY FUNCTION f")
    assert s.sql("SELECT f(1) AS a").to_pylist() == [{"a": 2}]
    s.sql("DROP TEMPORARY FUNCTION IF EXISTS f")
    with pytest.raises(SqlError, match="temporary function not found: f"):
        s.sql("DROP TEMPORARY FUNCTION f")
    with pytest.raises(AnalysisError, match="one-part name"):
        s.sql("CREATE TEMPORARY FUNCTION main.default.g(x INT) RETURN x")


def test_parameters_and_results_are_cast_to_their_declared_types(s):
    s.sql("CREATE FUNCTION half(x DOUBLE) RETURNS DECIMAL(10,2) RETURN x / 3")
    s.sql("CREATE TABLE h AS SELECT half(n) AS v, half('4') AS w FROM t WHERE n = 2")
    assert [r["data_type"] for r in s.sql("DESCRIBE h").to_pylist()] == [
        "DECIMAL(10,2)",
        "DECIMAL(10,2)",
    ]
    assert [str(v) for v in s.sql("SELECT v, w FROM h").to_pylist()[0].values()] == ["0.67", "1.33"]
    s.sql("CREATE FUNCTION derived(x INT) RETURN x > 2")  # no RETURNS: from the body
    rows = s.sql("DESCRIBE FUNCTION derived").to_pylist()
    assert "Returns:  BOOLEAN" in [r["function_desc"] for r in rows]


def test_defaults_named_arguments_and_nested_functions(s):
    s.sql(
        "CREATE FUNCTION greet(name STRING, greeting STRING DEFAULT 'hello') RETURN "
        "greeting || ', ' || name"
    )
    s.sql("CREATE FUNCTION loud(name STRING) RETURN upper(greet(name, 'hey'))")
    assert s.sql(
        "SELECT greet('ann') AS a, greet(greeting => 'hi', name => 'bo') AS b, loud('cy') AS c"
    ).to_pylist() == [{"a": "hello, ann", "b": "hi, bo", "c": "HEY, CY"}]
    # a lambda variable named like a parameter is left alone
    s.sql("CREATE FUNCTION bump(x ARRAY<INT>, n INT) RETURN transform(x, n -> n + 1)")
    assert s.sql("SELECT bump(array(1, 2), 7) AS a").to_pylist() == [{"a": [2, 3]}]


def test_argument_errors_name_the_function_the_problem_and_the_position(s):
    s.sql("CREATE FUNCTION twice(x INT) RETURN x * 2")
    with pytest.raises(AnalysisError) as error:
        s.sql("SELECT n,\n  twice(n, 2) FROM t").to_pylist()
    assert str(error.value) == (
        "function main.default.twice takes 1 argument(s), got 2 at line 2, column 3; "
        "usage: main.default.twice(x INT)"
    )
    with pytest.raises(AnalysisError, match=r"twice takes 1 argument\(s\), got 0 .*x is missing"):
        s.sql("SELECT twice()").to_pylist()
    with pytest.raises(
        AnalysisError,
        match=r"argument 1 \(x\) of function main.default.twice"
        r" at line 1, column 8: 'abc' cannot be cast to INT",
    ):
        s.sql("SELECT twice('abc')").to_pylist()
    with pytest.raises(SqlError) as error:
        s.sql("SELECT n, twice(col) FROM t WHERE n = 2").to_pylist()
    assert str(error.value) == (
        "[CAST_INVALID_INPUT] argument 1 (x) of function main.default.twice at line 1, "
        "column 11: the value 'she go home' cannot be cast to INT"
    )
    assert s.sql("SELECT twice(CAST(n AS STRING)) AS v FROM t WHERE n = 2").to_pylist() == [
        {"v": 4}
    ]
    with pytest.raises(AnalysisError, match="has no parameter 'y'"):
        s.sql("SELECT twice(y => 1)").to_pylist()


def test_recursion_is_refused_at_create_and_at_planning(s):
    with pytest.raises(AnalysisError, match="function r calls itself .*recursive SQL functions"):
        s.sql("CREATE FUNCTION r(x INT) RETURN r(x) + 1")
    s.sql("CREATE FUNCTION a(x INT) RETURN x + 1")
    s.sql("CREATE FUNCTION b(x INT) RETURN a(x) + 1")
    with pytest.raises(AnalysisError, match="calls itself .*recursive SQL functions"):
        s.sql("CREATE OR REPLACE FUNCTION a(x INT) RETURN b(x)")
    assert s.sql("SELECT b(1) AS v").to_pylist() == [{"v": 3}]  # the old a is kept


def test_unsupported_definitions_are_errors(s):
    with pytest.raises(AnalysisError, match="RETURNS TABLE .* is not supported"):
        s.sql("CREATE FUNCTION f(x INT) RETURNS TABLE (a INT) RETURN SELECT 1")
    with pytest.raises(AnalysisError, match="cannot resolve y in its body .*only its parameters"):
        s.sql("CREATE FUNCTION f(x INT) RETURN y")
    with pytest.raises(AnalysisError, match="a body with a query is not supported"):
        s.sql("CREATE FUNCTION f(x INT) RETURN (SELECT max(n) FROM t)")
    with pytest.raises(AnalysisError, match="a built-in function has that name"):
        s.sql("CREATE FUNCTION upper(x STRING) RETURN x")
    with pytest.raises(AnalysisError, match="LANGUAGE PYTHON is not supported"):
        s.sql("CREATE FUNCTION f(x INT) RETURNS INT LANGUAGE PYTHON AS $$ return x $$")
    with pytest.raises(SqlError, match="NOPE"):
        s.sql("CREATE FUNCTION f(x INT) RETURNS NOPE RETURN x")


def test_show_and_describe_functions(s):
    s.sql(CORRECT_GRAMMAR)
    s.sql("CREATE TEMPORARY FUNCTION twice(x INT) RETURN x * 2")
    assert s.sql("SHOW USER FUNCTIONS").to_pylist() == [
        {"function": "twice"},
        {"function": "main.default.correct_grammar"},
    ]
    everything = [r["function"] for r in s.sql("SHOW FUNCTIONS").to_pylist()]
    assert "main.default.correct_grammar" in everything and "ai_query" in everything
    assert "twice" not in [r["function"] for r in s.sql("SHOW SYSTEM FUNCTIONS").to_pylist()]
    assert s.sql("SHOW USER FUNCTIONS LIKE 'correct*'").to_pylist() == [
        {"function": "main.default.correct_grammar"}
    ]
    basic = [r["function_desc"] for r in s.sql("DESCRIBE FUNCTION correct_grammar").to_pylist()]
    assert basic == [
        "Function: main.default.correct_grammar",
        "Type:     SCALAR",
        "Input:    text STRING",
        "Returns:  STRING",
    ]
    extended = s.sql("DESCRIBE FUNCTION EXTENDED correct_grammar").to_pylist()
    lines = [r["function_desc"] for r in extended]
    assert "Comment:  fixes grammar" in lines
    assert "Body:     ai_query('my-llm', CONCAT('Correct this: ', text))" in lines
    with pytest.raises(SqlError, match="function not found: nope"):
        s.sql("DESCRIBE FUNCTION nope")
