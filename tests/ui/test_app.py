"""The workspace's HTTP API and its guards, against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lakeinfer
from lakeinfer.errors import ConfigError
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from lakeinfer.ui.server import WorkspaceServer, workspace_token
from tests.conftest import configure
from tests.ui.conftest import call, split_token


@pytest.fixture
def served(home: Path, fake_server: FakeOpenAIServer) -> Iterator[dict[str, Any]]:
    configure(home, fake_server, chat={"max_retries": 0})
    with lakeinfer.connect(home, notice=lambda m: None, progress=False, sandboxed=True) as session:
        with WorkspaceServer(session) as server:
            yield {"url": server.url, "session": session, "server": server}


def _finish(url: str, run: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while run["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        run = call(url, f"/api/runs/{run['id']}")[1]
    return run


def test_a_script_runs_and_its_results_are_paged_with_types(served):
    url = served["url"]
    status, run = call(
        url,
        "/api/runs",
        {
            "sql": "CREATE TABLE t (id INT, tags ARRAY<STRING>, s STRUCT<a: INT, b: STRING>);\n"
            "INSERT INTO t VALUES (1, array('x', NULL), named_struct('a', 1, 'b', NULL)), "
            "(2, NULL, NULL), (3, array(), named_struct('a', 3, 'b', 'z'));\n"
            "SELECT * FROM t ORDER BY id"
        },
    )
    assert status == 201
    run = _finish(url, run)
    assert run["state"] == "finished"
    assert [s["sql"].split()[0] for s in run["statements"]] == ["CREATE", "INSERT", "SELECT"]
    assert run["statements"][2]["rows"] == 3
    status, page = call(url, f"/api/runs/{run['id']}/statements/2?offset=1&limit=1")
    assert status == 200
    assert page["columns"] == [
        {"name": "id", "type": "INT"},
        {"name": "tags", "type": "ARRAY<STRING>"},
        {"name": "s", "type": "STRUCT<a: INT, b: STRING>"},
    ]
    assert page["rows"] == [[2, None, None]] and page["total"] == 3 and page["offset"] == 1
    first = call(url, f"/api/runs/{run['id']}/statements/2?limit=1")[1]["rows"]
    assert first == [[1, ["x", None], {"a": 1, "b": None}]]
    assert call(url, f"/api/runs/{run['id']}/statements/7")[0] == 404
    assert call(url, "/api/runs/nope")[0] == 404
    assert call(url, f"/api/runs/{run['id']}/statements/2?limit=x")[0] == 400


def test_progress_streams_as_server_sent_events_until_done(served):
    url = served["url"]
    run = call(url, "/api/runs", {"sql": "SELECT ai_query('chat', 'hello') AS a"})[1]
    base, token = split_token(url)
    events = urllib.request.Request(
        f"{base}api/runs/{run['id']}/events", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(events) as stream:
        assert stream.headers.get_content_type() == "text/event-stream"
        body = stream.read().decode()
    events = re.findall(r"^event: (\w+)$", body, re.MULTILINE)
    assert events[-1] == "done" and set(events) <= {"progress", "done"}
    assert '"done": 1' in body.rsplit("event: done", 1)[1] and '"total": 1' in body


def test_errors_carry_their_line_and_column(served):
    url = served["url"]
    run = _finish(url, call(url, "/api/runs", {"sql": "SELECT 1;\nSELECT FROM WHERE;"})[1])
    assert run["state"] == "failed"
    assert run["error"]["kind"] == "SqlSyntaxError" and run["error"]["line"] == 2
    run = _finish(url, call(url, "/api/runs", {"sql": "SELECT 1;\n  SELECT * FROM nowhere"})[1])
    assert "nowhere" in run["error"]["message"]
    assert (run["error"]["line"], run["error"]["column"]) == (2, 3)  # where the statement starts
    assert call(url, "/api/runs", {"sql": "  "})[0] == 400
    assert call(url, "/api/runs", {"query": "SELECT 1"})[0] == 400


def test_one_run_at_a_time_and_cancel(home: Path, tmp_path: Path):
    with FakeOpenAIServer(latency_ms=300) as slow:
        configure(home, slow, slow={"max_concurrency": 1})
        with lakeinfer.connect(
            home, notice=lambda m: None, progress=False, sandboxed=True
        ) as session:
            session.sql("CREATE TABLE d (x STRING)")
            session.sql("INSERT INTO d VALUES ('a'), ('b'), ('c'), ('d'), ('e'), ('f')")
            with WorkspaceServer(session) as server:
                url = server.url
                sql = "CREATE TABLE e AS SELECT ai_query('slow', x) AS y FROM d"
                run = call(url, "/api/runs", {"sql": sql})[1]
                status, body = call(url, "/api/runs", {"sql": "SELECT 1"})
                assert status == 409 and "already running" in body["error"]
                # browsing does not wait for the run
                started = time.monotonic()
                assert call(url, "/api/catalog")[0] == 200
                assert time.monotonic() - started < 1
                assert call(url, f"/api/runs/{run['id']}/cancel", {})[0] == 200
                run = _finish(url, run)
                assert run["state"] == "cancelled"
                assert not session.table_exists("e")
                assert call(url, "/api/runs", {"sql": "SELECT 1"})[0] == 201


def test_catalog_table_details_preview_and_time_travel(served):
    url, session = served["url"], served["session"]
    session.sql("CREATE TABLE r (id INT, text STRING) COMMENT 'reviews'")
    session.sql("INSERT INTO r VALUES (1, 'good'), (2, NULL)")
    session.sql("CREATE VIEW rv AS SELECT id FROM r")
    tree = call(url, "/api/catalog")[1]
    main = next(c for c in tree if c["name"] == "main")
    assert main["schemas"][0] == {"name": "default", "tables": ["r"], "views": ["rv"]}
    info = call(url, "/api/tables/main.default.r")[1]
    assert info["rows"] == 2 and info["version"] == 1 and info["comment"] == "reviews"
    assert [c["name"] + " " + c["type"] for c in info["columns"]] == ["id INT", "text STRING"]
    assert [h["version"] for h in info["history"]] == [1, 0]
    assert info["history"][1]["operation"].startswith("CREATE")
    assert call(url, "/api/tables/r/rows")[1]["rows"] == [[1, "good"], [2, None]]
    assert call(url, "/api/tables/r/rows?version=0")[1]["total"] == 0
    view = call(url, "/api/tables/main.default.rv")[1]
    assert view["kind"] == "VIEW" and "SELECT" in view["definition"].upper()
    status, body = call(url, "/api/tables/main.default.nope")
    assert status == 404 and "nope" in body["error"]


def test_history_endpoints_and_health(served, fake_server):
    url, session = served["url"], served["session"]
    assert call(url, "/api/history")[1] == []
    session.sql("SELECT ai_query('chat', 'hi') AS a").to_arrow()
    history = call(url, "/api/history")[1]
    assert len(history) == 1 and history[0]["status"] == "FINISHED"
    assert history[0]["calls"] == 1 and "ai_query('chat', 'hi')" in history[0]["statement"]
    endpoints = call(url, "/api/endpoints")[1]
    chat = next(e for e in endpoints if e["name"] == "chat")
    assert chat["provider"] == "openai" and chat["base_url"] == fake_server.base_url
    assert chat["limits"]["max_retries"] == 0 and chat["configured"]
    assert any(not e["configured"] for e in endpoints)  # the pre-provisioned names
    before = fake_server.stats()["chat"]
    health = call(url, "/api/endpoints/chat/health", {})[1]
    assert health["ok"] and health["latency_ms"] >= 0 and health["error"] is None
    assert fake_server.stats()["chat"] == before + 1  # one real call
    assert call(url, "/api/endpoints/nope/health", {})[0] == 404


def test_jobs_streams_and_reports_are_empty_until_something_writes_them(served):
    url, home = served["url"], served["session"].home
    assert call(url, "/api/jobs")[1] == [] and call(url, "/api/streams")[1] == []
    assert call(url, "/api/reports")[1] == []
    assert "lakeinfer jobs" in call(url, "/api/info")[1]["empty"]["jobs"]
    (home / "_reports" / "bench").mkdir(parents=True)
    page = home / "_reports" / "bench" / "latency.html"
    page.write_text("<html><head><title>Bench &amp; latency</title></head><body>p99</body></html>")
    reports = call(url, "/api/reports")[1]
    assert [(r["title"], r["kind"], r["file"]) for r in reports] == [
        ("Bench & latency", "benchmark", "latency.html")
    ]
    base, token = split_token(url)
    request = urllib.request.Request(
        f"{base}reports/{reports[0]['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request) as response:
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert b"p99" in response.read()
    assert call(url, "/reports/0123456789abcdef")[0] == 404


def test_loopback_server_refuses_foreign_hosts_origins_and_form_posts(served):
    url = served["url"]
    assert call(url, "/api/info", headers={"Host": "evil.example:80"})[0] == 403
    assert call(url, "/api/runs", {"sql": "SELECT 1"}, {"Origin": "http://evil.example"})[0] == 403
    base, token = split_token(url)
    request = urllib.request.Request(
        f"{base}api/runs",
        data=b"sql=SELECT+1",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Bearer {token}",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    with refused.value as error:
        assert error.code == 415


def test_a_token_is_required_when_set(home: Path):
    with lakeinfer.connect(home, progress=False, sandboxed=True) as session:
        with WorkspaceServer(session, token="s3cret") as server:
            base = server.url.split("?")[0]
            assert server.url.endswith("?token=s3cret")
            assert call(base, "/api/info")[0] == 401
            assert call(base, "/api/info", headers={"Authorization": "Bearer wrong"})[0] == 401
            assert call(base, "/api/info", headers={"Authorization": "Bearer s3cret"})[0] == 200
            assert call(base, "/")[0] == 401
            # opening the printed address once sets a cookie the page then uses
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
            with opener.open(server.url) as response:
                assert response.status == 200 and b"lakeinfer workspace" in response.read()
            with opener.open(base + "api/catalog") as response:
                assert response.status == 200


def test_two_workspaces_open_in_one_browser_keep_their_own_cookie(home: Path, tmp_path: Path):
    with (
        lakeinfer.connect(home, progress=False, sandboxed=True) as first,
        lakeinfer.connect(tmp_path / "other", progress=False, sandboxed=True) as second,
        WorkspaceServer(first) as one,
        WorkspaceServer(second) as two,
    ):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        for server in (one, two):
            opener.open(server.url).close()
        for server in (one, two):
            with opener.open(split_token(server.url)[0] + "api/info") as response:
                assert json.loads(response.read())["home"] == str(server.session.home)


def test_a_token_is_made_unless_given_or_turned_off_on_loopback():
    made = workspace_token("127.0.0.1", None)
    assert made and len(made) >= 24 and made != workspace_token("127.0.0.1", None)
    assert workspace_token("0.0.0.0", None) not in (None, made)
    assert workspace_token("192.168.1.5", "given") == "given"
    assert workspace_token("127.0.0.1", None, require_token=False) is None
    with pytest.raises(ConfigError, match="without a token"):
        workspace_token("0.0.0.0", None, require_token=False)


def test_the_command_serves_on_another_address_only_with_its_token(home: Path):
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "LAKEINFER_HOME": str(home)}
    env.pop("LAKEINFER_UI_TOKEN", None)
    command = [sys.executable, "-m", "lakeinfer.cli", "ui", "--no-browser", "--host", "127.0.0.2"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stderr.readline()
        found = re.search(r"(http://127\.0\.0\.2:\d+/)\?token=(\S+)", line)
        assert found, line
        base, token = found.groups()
        assert call(base, "/api/info")[0] == 401
        status, info = call(base, "/api/info", headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and info["home"] == str(home)
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert process.returncode == 0  # SIGTERM stops it cleanly


def test_serve_opens_the_browser_on_its_address_and_stops_on_interrupt(home: Path, monkeypatch):
    from lakeinfer.ui import server as server_module

    opened: list[str] = []

    def fake_open(url: str) -> None:
        opened.append(url)
        status, info = call(url, "/api/info")  # it listens before the browser is opened
        assert status == 200
        raise KeyboardInterrupt  # as Ctrl-C would

    monkeypatch.setattr(server_module.webbrowser, "open", fake_open)
    said: list[str] = []
    with lakeinfer.connect(home, progress=False, sandboxed=True) as session:
        server_module.serve(session, open_browser=True, say=said.append)
    assert len(opened) == 1 and opened[0].startswith("http://127.0.0.1:")
    assert re.search(r"/\?token=[\w-]{24,}$", opened[0])  # as Jupyter's address
    assert opened[0] in said[0]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(split_token(opened[0])[0] + "api/info", timeout=2)


def test_a_port_in_use_is_refused_with_its_address(home: Path):
    with lakeinfer.connect(home, progress=False, sandboxed=True) as session:
        with WorkspaceServer(session) as first:
            second = WorkspaceServer(session, port=first.port)
            with pytest.raises(ConfigError, match=rf"127\.0\.0\.1:{first.port}: address"):
                second.start()
            assert not second.running
            assert call(first.url, "/api/info")[0] == 200


def test_stopping_the_workspace_cancels_its_run_before_the_session_closes(home: Path):
    with FakeOpenAIServer(latency_ms=300) as slow:
        configure(home, slow, slow={"max_concurrency": 1})
        with lakeinfer.connect(
            home, notice=lambda m: None, progress=False, sandboxed=True
        ) as session:
            session.sql("CREATE TABLE d (x STRING)")
            session.sql("INSERT INTO d VALUES ('a'), ('b'), ('c'), ('d'), ('e'), ('f')")
            server = WorkspaceServer(session).start()
            sql = "CREATE TABLE e AS SELECT ai_query('slow', x) AS y FROM d"
            run_id = call(server.url, "/api/runs", {"sql": sql})[1]["id"]
            server.stop()
            run = server.runs.get(run_id)
            assert run is not None and run.state == "cancelled"
            assert not session.table_exists("e")
            assert slow.stats().get("slow", 0) < 6


def test_provider_batches_are_listed_newest_first(served):
    from lakeinfer.engine.batch_records import BatchRecord, BatchRecords

    url, home = served["url"], served["session"].home
    assert call(url, "/api/batches")[1] == []
    assert "lakeinfer.batch_mode" in call(url, "/api/info")[1]["empty"]["batches"]
    records = BatchRecords(home)
    records.put(BatchRecord("a" * 32, "llm", "batch_1", "file_1", 10, 100, created_at=1.0))
    records.put(BatchRecord("b" * 32, "llm", "batch_2", "file_2", 5, 50, status="completed"))
    listed = call(url, "/api/batches")[1]
    assert [(b["batch_id"], b["status"], b["requests"]) for b in listed] == [
        ("batch_2", "completed", 5),
        ("batch_1", "validating", 10),
    ]
