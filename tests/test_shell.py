"""The interactive shell, driven through a real pseudo-terminal."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from lakeinfer.shell import HISTORY_FILE, statement_complete
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from tests.conftest import configure

pexpect = pytest.importorskip("pexpect")


def test_statement_complete_ignores_semicolons_in_strings_and_comments():
    assert statement_complete("SELECT 1;")
    assert statement_complete("SELECT 1;  ")
    assert not statement_complete("SELECT 'a;")
    assert not statement_complete("SELECT 'a;b'")
    assert not statement_complete("SELECT 1 -- done;")
    assert statement_complete(".quit")
    assert statement_complete("")


def _spawn(home: Path, *args: str):
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "COLUMNS": "120"}
    return pexpect.spawn(
        sys.executable,
        ["-m", "lakeinfer.cli", "--home", str(home), *args],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 120),
    )


def test_shell_runs_multiline_statements_keeps_going_after_errors_and_keeps_history(home):
    shell = _spawn(home, "sql")
    shell.expect("lakeinfer>")
    shell.send("CREATE TABLE t AS\r")
    shell.expect(r"\.\.\.>")  # the statement goes on: no ';' yet
    shell.send("SELECT 42 AS answer;\r")
    shell.expect("lakeinfer>")
    shell.send("SELECT * FORM t;\r")
    shell.expect("error: syntax error at line 1")
    shell.expect("lakeinfer>")
    shell.send("SELECT answer + 1 AS next FROM t;\r")
    shell.expect("43")
    shell.expect("lakeinfer>")
    shell.send(".quit\r")
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0
    history = (home / HISTORY_FILE).read_text()
    assert "SELECT answer + 1 AS next FROM t;" in history

    # a new shell recalls earlier statements with the up arrow (.quit was the last entry)
    again = _spawn(home, "sql", "--format", "csv")
    again.expect("lakeinfer>")
    for _ in range(2):
        time.sleep(0.3)  # let the prompt switch the terminal to raw input first
        again.send("\x10")  # Ctrl-P: previous history entry (the up arrow's key binding)
    again.send("\r")
    again.expect("next")
    again.expect("43")
    again.expect("lakeinfer>")
    time.sleep(0.3)
    again.send("\x04")  # Ctrl-D leaves
    again.expect(pexpect.EOF)


def test_progress_bar_shows_on_a_terminal_for_work_over_a_second(home):
    with FakeOpenAIServer(latency_ms=250) as server:
        configure(home, server, slow={"max_concurrency": 4, "max_retries": 0})
        shell = _spawn(
            home, "sql", "SELECT ai_query('slow', 'row ' || id) FROM range(20)", "--format", "csv"
        )
        shell.expect(r"ai_query slow.*/20")
        shell.expect("req/s")
        shell.expect(pexpect.EOF)
        assert server.stats()["chat"] == 20


def test_no_progress_bar_when_quiet(home):
    with FakeOpenAIServer(latency_ms=250) as server:
        configure(home, server, slow={"max_concurrency": 4, "max_retries": 0})
        shell = _spawn(home, "--quiet", "sql", "SELECT ai_query('slow', 'r ' || id) FROM range(12)")
        output = shell.read()
        assert "req/s" not in output and "echo: r 11" in output


def test_duckdb_dot_commands(home, tmp_path):
    script = tmp_path / "load.sql"
    script.write_text(
        "CREATE TABLE t (id INT, name STRING) PARTITIONED BY (id);\n"
        "INSERT INTO t VALUES (1, 'one');\n"
    )
    shell = _spawn(home, "sql")
    shell.expect("lakeinfer>")
    shell.send(f".read {script}\r")
    shell.expect("lakeinfer>")
    shell.send(".schema t\r")
    shell.expect(r"CREATE TABLE t \(\r\n  id INT,\r\n  name STRING\r\n\)\r\nPARTITIONED BY \(id\);")
    shell.expect("lakeinfer>")
    shell.send(".mode csv\r")
    shell.expect("lakeinfer>")
    shell.send(".timer on\r")
    shell.expect("lakeinfer>")
    shell.send("SELECT name, id FROM t;\r")
    shell.expect(r"name,id\s+one,1")
    shell.expect(r"Run Time \(s\): real \d+\.\d{3}")
    shell.expect("lakeinfer>")
    shell.send(".tables\r")
    shell.expect(r"default,t,")
    shell.expect("lakeinfer>")
    shell.send(".open other.db\r")
    shell.expect(r"\.open is not a lakeinfer command: start lakeinfer with --home DIRECTORY")
    shell.expect("lakeinfer>")
    shell.send(".mode line\r")
    shell.expect(r"usage: \.mode table \| box \| duckbox \| json \| csv")
    shell.expect("lakeinfer>")
    shell.send(".quit\r")
    shell.expect(pexpect.EOF)
