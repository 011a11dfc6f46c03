"""Syntax errors name the problem in SQL terms and point at the token at fault."""

from __future__ import annotations

import pytest

from lakeinfer.errors import SqlSyntaxError
from lakeinfer.sql.parse import parse_statements, tokenize
from lakeinfer.sql.syntax import INTERNAL_MARKERS

#: Truncated, misspelt and malformed statements; each must fail with a position and a caret.
MALFORMED = [
    "SELECT * FROM t WHERE",
    "SELECT * FROM t WHERE a = = 1",
    "SELECT * FROM t WHERE a IN (",
    "SELECT * FROM t WHERE a BETWEEN 1",
    "SELECT * FROM t HAVING",
    "SELECT * FROM t ORDER BY",
    "SELECT * FROM t LIMIT",
    "SELECT * FROM t UNION",
    "SELECT * FROM t JOIN",
    "SELECT * FROM t t2 t3",
    "SELECT id FROM",
    "SELECT (1 + 2 FROM t",
    "SELECT a + FROM t",
    "SELECT 1 +",
    "SELECT 1)",
    "SELECT CASE WHEN a THEN 1 FROM t",
    "SELECT CAST(a AS) FROM t",
    "SELECT CAST(a AS STRNG) FROM t",
    "SELECT x::STRNG",
    "SELECT count(*) OVER ( FROM t",
    "SELECT named_struct( FROM t",
    "SELECT ai_query('e', x, returnType =>) FROM t",
    "SELECT * FROM t WHERE a = 'x",
    "SELECT `abc FROM t",
    "SELECT /* unterminated",
    "SELECT * FROM (SELECT 1",
    "WITH x AS (SELECT 1)",
    "WITH x AS SELECT 1",
    "INSERT INTO",
    "INSERT INTO t VALUES (1,",
    "CREATE TABLE",
    "CREATE TABLE t (a INT,",
    "CREATE TABLE t (a STRNG)",
    "CREATE TABLE t (a STRUCT<x: INT, y: STRNG>)",
    "CREATE TABLE t (a ARRAY<INT)",
    "UPDATE t SET a =",
    "DELETE FROM",
    "DELETE FROM t WHERE",
    "MERGE INTO t USING s ON",
    "DROP TABLE",
    "DESCRIBE",
    "FROM",
    "SELEC id FROM t",
    "SELECT id FRM t",
    "SELECT a FROM t ORDR BY a",
    "INSRT INTO t VALUES (1)",
    "42",
    "'text'",
    # accepted by the parser with a part missing
    "SELECT id, FROM t",
    "SELECT , FROM t",
    "SELECT * FROM t GROUP BY",
    "SELECT * FROM t JOIN u ON",
    "SELECT * FROM t JOIN u ON WHERE a = 1",
    "SELECT * FROM t TABLESAMPLE",
    "SELECT 1 AS",
    "CREATE TABLE t AS",
    "UPDATE t SET",
    "INSERT INTO t",
    "DELETE t",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_statements_give_a_position_and_no_parser_internals(text):
    with pytest.raises(SqlSyntaxError) as error:
        parse_statements(text)
    message = str(error.value)
    assert error.value.line == 1 and error.value.column is not None, message
    assert message.startswith(f"syntax error at line 1, column {error.value.column}: ")
    for marker in INTERNAL_MARKERS:
        assert marker not in message, message
    # the second and third lines are the statement and a caret under the column
    _, source, caret = message.split("\n")
    assert source == "  " + text.rstrip()
    assert caret.index("^") - 2 == error.value.column - 1, message


def test_incomplete_where_says_what_is_missing():
    with pytest.raises(SqlSyntaxError) as error:
        parse_statements("SELECT * FROM t WHERE")
    assert error.value.problem == "WHERE needs a condition, but the statement ends here"
    assert error.value.column == 22


def test_an_unknown_first_word_is_pointed_at_with_the_close_keyword():
    with pytest.raises(SqlSyntaxError) as error:
        parse_statements("SELECT 1;\nSELEC id FROM t")
    assert (error.value.line, error.value.column) == (2, 1)
    assert error.value.problem == "unknown statement 'SELEC'; did you mean SELECT?"
    assert error.value.snippet == "  SELEC id FROM t\n  ^^^^^"


def test_a_misspelt_keyword_inside_a_statement_is_pointed_at():
    with pytest.raises(SqlSyntaxError) as error:
        parse_statements("SELECT id\n  FRM t")
    assert (error.value.line, error.value.column) == (2, 3)
    assert error.value.problem == "unexpected 'FRM'; did you mean FROM?"


def test_the_token_at_fault_is_named_with_its_start_column():
    with pytest.raises(SqlSyntaxError) as error:
        parse_statements("SELECT (1 + 2 FROM t")
    assert error.value.column == 15
    assert error.value.problem == "expected ')', found 'FROM'"
    assert error.value.snippet.endswith("\n" + " " * 16 + "^^^^")


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("SELECT CAST(a AS STRNG) FROM t", 18),
        ("SELECT a::STRNG FROM t", 11),
        ("CREATE TABLE t (a INT, b STRNG)", 26),
        ("CREATE TABLE t (a STRUCT<x: INT, y: STRNG>)", 37),
    ],
)
def test_an_unknown_type_in_a_statement_is_named_with_the_close_type(text, column):
    with pytest.raises(SqlSyntaxError) as error:
        parse_statements(text)
    assert error.value.column == column
    assert error.value.problem == "unknown type 'STRNG'; did you mean STRING?"


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("SELECT 'abc", 8, "unterminated string literal (no closing ')"),
        ('SELECT 1;\nSELECT "a\\"', 8, 'unterminated string literal (no closing ")'),
        ("SELECT `a b FROM t", 8, "unterminated quoted name (no closing `)"),
        ("SELECT 1 /* note", 10, "unterminated comment (no closing */)"),
    ],
)
def test_unterminated_literals_point_where_they_open(text, column, problem):
    with pytest.raises(SqlSyntaxError) as error:
        parse_statements(text)
    assert error.value.column == column
    assert error.value.problem == problem


def test_valid_statements_still_parse():
    statements = parse_statements(
        "SELECT left(s, 2), right(s, 1), a FROM t LEFT JOIN u ON (t.id = u.id) WHERE a = 1;\n"
        "SELECT a, window, window.start, left AS qualify FROM t;\n"
        "SELECT CAST(a AS STRING), b::INT FROM t WHERE a BETWEEN 1 AND 2;\n"
        "CREATE TABLE t (a INT, b STRUCT<c: STRING, d: ARRAY<MAP<STRING, BIGINT>>>);\n"
        "VALUES (1); (SELECT 1); SHOW TABLES; DESCRIBE t; USE main.default"
    )
    assert len(statements) == 9


def test_a_join_without_its_condition_is_refused_not_run_as_a_cross_join():
    with pytest.raises(SqlSyntaxError) as error:
        parse_statements("SELECT * FROM t JOIN u ON\nWHERE t.a = 1")
    assert (error.value.line, error.value.column) == (2, 1)
    assert error.value.problem == "ON needs a join condition, found 'WHERE'"


#: Valid statements; every prefix of them, and each with one token left out, is fuzzed below.
VALID = [
    "SELECT a, count(*) AS n FROM main.default.t AS x LEFT JOIN u ON x.id = u.id "
    "WHERE a > 1 AND b IN (1, 2) GROUP BY a HAVING count(*) > 1 ORDER BY n DESC LIMIT 10",
    "SELECT ai_query('my-llm', concat('Summarize: ', text), returnType => 'STRUCT<a: INT>', "
    "failOnError => false, modelParameters => named_struct('max_tokens', 10)) AS r FROM docs",
    "WITH c AS (SELECT id, CAST(v AS DOUBLE) AS d FROM t) "
    "SELECT CASE WHEN d > 1 THEN 'x' ELSE 'y' END AS k FROM c",
    "CREATE OR REPLACE TABLE s.t (id INT, tags ARRAY<STRING>, m MAP<STRING, INT>, "
    "st STRUCT<a: INT, b: STRING>) COMMENT 'x'",
    "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')",
    "UPDATE t SET a = a + 1, b = 'z' WHERE id BETWEEN 1 AND 3",
    "MERGE INTO t AS a USING s AS b ON a.id = b.id "
    "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    "SELECT from_json(r, 'a INT, b STRING') FROM t WHERE x LIKE 'a%' "
    "QUALIFY row_number() OVER (PARTITION BY a ORDER BY b) = 1",
]


def _mutations(text: str) -> set[str]:
    tokens = tokenize(text)
    found = set()
    for token in tokens[1:]:
        found.add(text[: token.start].rstrip())
        found.add((text[: token.start] + text[token.end + 1 :]).strip())
    return found


@pytest.mark.parametrize("valid", VALID, ids=lambda v: v[:30])
def test_truncated_and_gapped_statements_fail_only_with_positioned_syntax_errors(valid):
    failed = 0
    for text in sorted(_mutations(valid)):
        try:
            parse_statements(text)
        except SqlSyntaxError as error:
            failed += 1
            message = str(error)
            assert error.line is not None and error.column is not None, message
            assert not any(marker in message for marker in INTERNAL_MARKERS), message
    assert failed > 10  # most mutations are errors; none escaped as another exception
