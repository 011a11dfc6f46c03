"""Renaming AI calls in SQL text by signature; the rest of the text is left as written."""

from __future__ import annotations

import pytest

from lakeinfer.errors import AnalysisError, SqlSyntaxError
from lakeinfer.spark.rewrite import rewrite_ai_calls


def _by_fail(call):
    return "q_safe" if not call.fail_on_error else f"q_{call.return_ddl or 'default'}"


def test_only_the_names_change():
    text = (
        "SELECT /* keep */ AI_QUERY('e', x || 'ai_query(') AS a,\n"
        "  ai_query(endpoint => 'e', request => ai_query('e', y), failOnError => false) b\n"
        "FROM t WHERE ai_query ('e', z, 'INT') > 1"
    )
    assert rewrite_ai_calls(text, _by_fail) == (
        "SELECT /* keep */ q_default('e', x || 'ai_query(') AS a,\n"
        "  q_safe(endpoint => 'e', request => q_default('e', y), failOnError => false) b\n"
        "FROM t WHERE q_INT ('e', z, 'INT') > 1"
    )


def test_errors_carry_the_position_in_the_whole_text():
    with pytest.raises(AnalysisError, match="line 3, column 3: missing required argument"):
        rewrite_ai_calls("SELECT\n 1,\n  ai_query('e') FROM t", _by_fail)
    with pytest.raises(SqlSyntaxError, match=r"column 8: ai_query\( has no closing '\)'"):
        rewrite_ai_calls("SELECT ai_query('e', x FROM t", _by_fail)
