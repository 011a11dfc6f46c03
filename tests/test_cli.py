"""The `lakeinfer` command, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import configure


def run(home: Path, *args: str, env: dict | None = None, stdin: str | None = None):
    import os

    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "lakeinfer.cli", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        input=stdin,
    )


def test_sql_runs_statements_and_prints_json_lines(home):
    result = run(
        home,
        "sql",
        "CREATE TABLE t (id INT, tags ARRAY<STRING>, ts TIMESTAMP); "
        "INSERT INTO t VALUES (1, array('a', 'b'), TIMESTAMP '2024-05-01 10:00:00'); "
        "SELECT * FROM t",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1] == {"id": 1, "tags": ["a", "b"], "ts": "2024-05-01T10:00:00+00:00"}


def test_sql_from_file_and_table_output(home, tmp_path):
    script = tmp_path / "setup.sql"
    script.write_text(
        "CREATE SCHEMA s;\nCREATE TABLE s.t AS SELECT 'x' AS name;\nSHOW TABLES IN s;\n"
    )
    result = run(home, "sql", "-f", str(script))
    assert result.returncode == 0, result.stderr
    assert "tableName" in result.stdout and "t" in result.stdout


def test_errors_are_one_line_without_traceback(home):
    result = run(home, "sql", "SELECT * FORM t")
    assert result.returncode == 1
    assert result.stderr.startswith("error: syntax error at line 1, column")
    assert "Traceback" not in result.stderr
    missing = run(home, "sql", "SELECT * FROM main.default.nothing_here")
    assert missing.returncode == 1 and "main.default.nothing_here" in missing.stderr


def test_a_syntax_error_shows_the_line_with_a_caret_under_the_typo(home):
    result = run(home, "sql", "SELECT 1;\nSELEC id FROM t")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: syntax error at line 2, column 1: unknown statement 'SELEC'; did you mean SELECT?",
        "  SELEC id FROM t",
        "  ^^^^^",
    ]


def test_a_file_that_is_not_utf8_is_named_with_the_first_bad_byte(home, tmp_path):
    script = tmp_path / "latin1.sql"
    script.write_bytes("SELECT 'café' AS word;\n".encode("latin-1"))
    expected = f"error: cannot read {script}: not UTF-8 text (byte 0xe9 at offset 11)\n"
    result = run(home, "sql", "-f", str(script))
    assert (result.returncode, result.stderr) == (1, expected)
    piped = subprocess.run(
        [sys.executable, "-m", "lakeinfer.cli", "--home", str(home), "sql", "-f", "-"],
        input=script.read_bytes(),
        capture_output=True,
        timeout=120,
    )
    assert piped.returncode == 1
    assert (
        piped.stderr.decode()
        == "error: cannot read stdin: not UTF-8 text (byte 0xe9 at offset 11)\n"
    )
    missing = run(home, "sql", "-f", str(tmp_path / "absent.sql"))
    assert (missing.returncode, missing.stderr) == (
        1,
        f"error: cannot read {tmp_path / 'absent.sql'}: no such file\n",
    )


def test_a_file_with_a_byte_order_mark_runs(home, tmp_path):
    script = tmp_path / "bom.sql"
    script.write_bytes(b"\xef\xbb\xbfSELECT 1 AS a")
    result = run(home, "sql", "-f", str(script), "--format", "json")
    assert (result.returncode, result.stdout) == (0, '{"a": 1}\n'), result.stderr


def test_a_config_file_that_is_not_utf8_is_named(home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_bytes(b"[endpoints.x]\nmodel = '\xff'\n")
    result = run(home, "endpoints", "list")
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot read {home / 'config.toml'}: not UTF-8 text (byte 0xff at offset 23)\n"
    )


def test_debug_shows_the_traceback(home):
    result = run(home, "--debug", "sql", "SELECT * FORM t")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_endpoints_create_list_delete_and_use(home, fake_server):
    created = run(
        home,
        "endpoints",
        "create",
        "my-llm",
        "--provider",
        "openai",
        "--base-url",
        fake_server.base_url,
        "--model",
        "m1",
        "--api-key-env",
        "MY_KEY",
    )
    assert created.returncode == 0, created.stderr
    assert 'base_url = "' in (home / "config.toml").read_text()
    listed = run(home, "endpoints", "list", "--format", "json")
    entry = json.loads(listed.stdout.splitlines()[0])
    assert entry["name"] == "my-llm" and entry["model"] == "m1" and entry["task"] == "chat"

    secret = "sk-test-secret-value"
    answered = run(
        home,
        "sql",
        "SELECT ai_query('my-llm', 'hi') AS r",
        "--format",
        "json",
        env={"MY_KEY": secret},
    )
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout) == {"r": "echo: hi"}
    assert fake_server.stats()["headers"][-1]["Authorization"] == f"Bearer {secret}"
    assert secret not in answered.stdout + answered.stderr

    unset = run(home, "sql", "SELECT ai_query('my-llm', 'not cached') AS r", env={"MY_KEY": ""})
    assert unset.returncode == 1 and "MY_KEY is not set" in unset.stderr

    duplicate = run(
        home, "endpoints", "create", "my-llm", "--base-url", fake_server.base_url, "--model", "m1"
    )
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    deleted = run(home, "endpoints", "delete", "my-llm")
    assert deleted.returncode == 0
    assert run(home, "endpoints", "list", "--format", "json").stdout == ""


def test_unknown_config_key_is_rejected(home):
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        '[endpoints.x]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "m"\nmodle = "typo"\n'
    )
    result = run(home, "sql", "SELECT 1")
    assert result.returncode == 1
    assert "unknown key 'endpoints.x.modle'" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["sql", "--help"], ["endpoints", "create", "--help"]])
def test_help_teaches_with_examples(home, args):
    result = run(home, *args)
    assert result.returncode == 0
    assert "Usage:" in result.stdout
    if args == ["--help"]:
        assert "Examples:" in result.stdout and "ai_query" in result.stdout


def test_output_file_params_and_csv(home, tmp_path):
    out = tmp_path / "result.csv"
    result = run(
        home,
        "sql",
        "SELECT :name AS name, :n + 1 AS next",
        "-p",
        "name=O'Brien",
        "--param",
        "n=41",
        "--format",
        "csv",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert out.read_text().splitlines() == ["name,next", "O'Brien,42"]
    missing = run(home, "sql", "SELECT :nope", "-o", str(tmp_path / "never.csv"))
    assert missing.returncode == 1 and "parameter :nope has no value" in missing.stderr
    assert not (tmp_path / "never.csv").exists()


def test_output_file_format_follows_its_extension(home, tmp_path):
    import pyarrow.parquet as pq

    query = "SELECT 1 AS id, 'a,b' AS text"
    assert run(home, "sql", query, "-o", str(tmp_path / "out.parquet")).returncode == 0
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == [{"id": 1, "text": "a,b"}]
    assert run(home, "sql", query, "-o", str(tmp_path / "out.csv")).returncode == 0
    assert (tmp_path / "out.csv").read_text().splitlines() == ["id,text", '1,"a,b"']
    assert run(home, "sql", query, "-o", str(tmp_path / "out.jsonl")).returncode == 0
    assert json.loads((tmp_path / "out.jsonl").read_text()) == {"id": 1, "text": "a,b"}
    assert run(home, "sql", query, "-o", str(tmp_path / "out.txt")).returncode == 0
    assert "(1 row)" in (tmp_path / "out.txt").read_text()
    # --format wins for text; an unknown extension, or text into .parquet, is refused
    assert (
        run(home, "sql", query, "--format", "json", "-o", str(tmp_path / "o.csv")).returncode == 0
    )
    assert json.loads((tmp_path / "o.csv").read_text()) == {"id": 1, "text": "a,b"}
    unknown = run(home, "sql", query, "-o", str(tmp_path / "out.xlsx"))
    assert unknown.returncode == 2 and "'.xlsx'" in unknown.stderr
    assert "--format" in unknown.stderr and not (tmp_path / "out.xlsx").exists()
    text = run(home, "sql", query, "--format", "csv", "-o", str(tmp_path / "t.parquet"))
    assert text.returncode == 2 and "Parquet file" in text.stderr


def test_several_results_are_one_per_statement(home, tmp_path):
    script = "SELECT 1 AS a; SELECT 'x' AS b, 2 AS c"
    printed = run(home, "sql", script, "--format", "csv")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.replace("\r\n", "\n") == "a\n1\n\nb,c\nx,2\n"  # a blank line between
    for name in ("several.csv", "several.parquet"):
        refused = run(home, "sql", script, "-o", str(tmp_path / name))
        assert refused.returncode == 2 and "write each query to its own file" in refused.stderr
        assert not (tmp_path / name).exists()
    lines = run(home, "sql", script, "-o", str(tmp_path / "several.jsonl"))
    assert lines.returncode == 0, lines.stderr
    rows = [json.loads(line) for line in (tmp_path / "several.jsonl").read_text().splitlines()]
    assert rows == [{"a": 1}, {"b": "x", "c": 2}]


def test_load_csv_parquet_and_json_lines(home, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text('id,text\n1,"great, really"\n2,bad\n')
    parquet_file = tmp_path / "more.parquet"
    pq.write_table(pa.table({"id": [3], "text": ["fine"]}), parquet_file)
    json_file = tmp_path / "events.jsonl"
    json_file.write_text('{"id": 1, "tags": ["a"]}\n{"id": 2, "tags": []}\n')

    assert run(home, "load", str(csv_file), "main.default.reviews").returncode == 0
    again = run(home, "load", str(csv_file), "main.default.reviews")
    assert again.returncode != 0 and "--mode append" in again.stderr
    appended = run(home, "load", str(parquet_file), "reviews", "--mode", "append")
    assert appended.returncode == 0, appended.stderr
    assert "loaded 1 rows" in appended.stderr
    assert run(home, "load", str(json_file), "events").returncode == 0
    rows = run(
        home,
        "sql",
        "SELECT r.id, r.text, size(e.tags) AS n FROM reviews r LEFT JOIN events e ON r.id = e.id "
        "ORDER BY r.id",
        "--format",
        "json",
    )
    assert [json.loads(line) for line in rows.stdout.splitlines()] == [
        {"id": 1, "text": "great, really", "n": 1},
        {"id": 2, "text": "bad", "n": 0},
        {"id": 3, "text": "fine", "n": None},
    ]


def test_quiet_and_debug_are_taken_after_the_command_too(home, fake_server):
    configure(home, fake_server, chat={"max_retries": 0})
    query = "SELECT ai_query('chat', 'hi') AS a"
    loud = run(home, "sql", query)
    assert loud.returncode == 0 and "1 requests" in loud.stderr
    quiet = run(home, "sql", query, "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == "" and "echo: hi" in quiet.stdout
    debug = run(home, "sql", "SELECT * FORM t", "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    listed = run(home, "endpoints", "list", "--quiet", "--format", "csv")
    assert listed.returncode == 0
    header, row = listed.stdout.splitlines()[:2]
    shown = dict(zip(header.split(","), row.split(","), strict=True))
    # the limits and prices are shown, not only the address
    assert shown["timeout_s"] and shown["max_retries"] == "0"
    assert {"requests_per_minute", "price_input_per_million"} <= set(shown)


def test_writes_print_their_counts_as_databricks_sql_does(home, tmp_path):
    script = (
        "CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2); "
        "UPDATE t SET a = 3 WHERE a = 1; DELETE FROM t WHERE a = 2; SELECT * FROM t"
    )
    result = run(home, "sql", script, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"num_affected_rows": 2, "num_inserted_rows": 2},
        {"num_affected_rows": 1},
        {"num_affected_rows": 1},
        {"a": 3},
    ]
    # a file given with -o holds the query's rows only
    out = tmp_path / "rows.csv"
    result = run(
        home, "sql", "INSERT INTO t VALUES (7); SELECT * FROM t ORDER BY a", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text().split() == ["a", "3", "7"]
