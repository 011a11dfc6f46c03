from __future__ import annotations

import pytest

from lakeinfer.errors import SqlSyntaxError
from lakeinfer.sql.parse import parse_statements


def test_syntax_error_names_line_and_column():
    with pytest.raises(SqlSyntaxError) as error:
        parse_statements("SELECT 1;\nSELECT id FROM t WHERE")
    assert error.value.line == 2
    assert error.value.column == 23  # just after WHERE, where its condition is missing
    assert "line 2, column 23: WHERE needs a condition" in str(error.value)


def test_unterminated_string_is_reported():
    with pytest.raises(SqlSyntaxError, match="unterminated string"):
        parse_statements("SELECT 'abc")


def test_several_statements_and_stray_semicolons():
    statements = parse_statements("SELECT 1;; SELECT 2;\n")
    assert [s.sql() for s in statements] == ["SELECT 1", "SELECT 2"]


def test_databricks_literals_double_quotes_and_escapes():
    (statement,) = parse_statements('SELECT "a\\nb" AS x')
    assert statement.expressions[0].this.this == "a\nb"
