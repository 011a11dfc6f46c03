"""Where errors point in the editor's text, and how the text splits into statements."""

from __future__ import annotations

from lakeinfer.errors import AnalysisError, SqlError, SqlSyntaxError
from lakeinfer.ui.runs import error_of, statement_spans


def test_statement_spans_follow_the_sessions_split():
    text = "SELECT 1;\n-- only a comment;\n\n  SELECT ';' AS s;\n"
    spans = statement_spans(text)
    assert [text[first:end].strip() for _, first, end in spans] == ["SELECT 1", "SELECT ';' AS s"]
    assert text[spans[1][0] :].startswith("\n-- only a comment;")  # where its chunk starts


def test_syntax_errors_keep_their_own_position():
    error = error_of(SqlSyntaxError("unexpected", 3, 7), "a;\nb;\nc", 0)
    assert (error["line"], error["column"], error["kind"]) == (3, 7, "SqlSyntaxError")


def test_positions_in_messages_are_positions_in_the_whole_text():
    sql = "SELECT 1;  SELECT nme FROM t;\nSELECT 2"
    error = error_of(AnalysisError("unknown column nme at line 1, column 18"), sql, 1)
    assert (error["line"], error["column"]) == (1, 18)
    assert error["message"] == "unknown column nme at line 1, column 18"


def test_a_session_error_points_into_the_editors_text(tmp_path):
    import lakeinfer

    sql = "SELECT 1;\nSELECT 2;\nSELECT a,\n  nme FROM t"
    with lakeinfer.connect(tmp_path / "home", notice=lambda m: None, progress=False) as session:
        session.sql("CREATE TABLE t AS SELECT 1 AS a, 2 AS name")
        try:
            list(session.run_script(sql))
        except SqlError as exc:
            error = error_of(exc, sql, 2)
    assert (error["line"], error["column"]) == (4, 3)
    assert "at line 4, column 3" in error["message"]


def test_errors_without_a_position_point_at_their_statement():
    sql = "SELECT 1;\n-- drop it\n   DROP TABLE nope"
    error = error_of(AnalysisError("table not found: nope"), sql, 1)
    assert (error["line"], error["column"]) == (3, 4)
    assert error["message"] == "table not found: nope"


def test_internal_errors_name_their_class():
    assert error_of(KeyError("x"), "SELECT 1", 0)["message"] == "KeyError: 'x'"


def test_a_run_says_which_model_answered_a_databricks_name_and_its_clock_stops(tmp_path):
    import time

    import lakeinfer
    from lakeinfer.ui.runs import RunManager

    with lakeinfer.connect(tmp_path / "lh", notice=lambda m: None, sandboxed=True) as session:
        runs = RunManager(session)
        run = runs.start("SELECT ai_query('databricks-gte-large-en', 'hello') AS v")
        assert run.done.wait(300)
        snapshot = run.snapshot()
        assert snapshot["state"] == "finished", snapshot["error"]
        assert snapshot["stand_ins"] == {"databricks-gte-large-en": "all-MiniLM-L6-v2"}
        elapsed = snapshot["progress"]["elapsed_s"]
        time.sleep(0.2)
        assert run.snapshot()["progress"]["elapsed_s"] == elapsed  # stopped with the run
        runs.close()
