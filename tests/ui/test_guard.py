"""The workspace answers only its own loopback origin and its token, on every route, and its
SQL reads no file outside the lakehouse and the allowed directories."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import lakeinfer
from lakeinfer.errors import ConfigError, LakeinferError
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from lakeinfer.ui.app import COOKIE, STATIC, create_app
from lakeinfer.ui.server import WorkspaceServer
from tests.conftest import configure
from tests.ui.conftest import call


@pytest.fixture
def served(home: Path, fake_server: FakeOpenAIServer) -> Iterator[WorkspaceServer]:
    configure(home, fake_server, chat={"max_retries": 0})
    with lakeinfer.connect(home, notice=lambda m: None, progress=False, sandboxed=True) as session:
        with WorkspaceServer(session) as server:
            yield server


def request(
    server: WorkspaceServer, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> int:
    """One raw request with exactly the headers given (``Host`` included); its status."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": f"127.0.0.1:{server.port}", **headers}.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def routes(session: lakeinfer.Session) -> list[tuple[str, str]]:
    """Every (method, path) of the workspace, read from its router (path parameters filled)."""
    app = create_app(session, token="unused")
    found = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        if isinstance(resource, web.StaticResource):
            static = sorted(p.name for p in STATIC.iterdir() if p.is_file())[0]
            found.add((route.method, f"{resource.canonical}/{static}"))
            continue
        info = resource.get_info()
        path = info.get("path") or info["formatter"]
        path = re.sub(r"\{index\}", "0", path)
        path = re.sub(r"\{[^}]+\}", "x", path)
        found.add((route.method, path))
    assert len(found) >= 20, found
    return sorted(found)


def test_every_route_refuses_foreign_hosts_origins_and_missing_or_wrong_tokens(served):
    token, port = served.token, served.port
    assert token and len(token) >= 24 and served.url.endswith(f"/?token={token}")
    good = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps({"sql": "CREATE TABLE pwned AS SELECT 1 AS x"}).encode()
    for method, path in routes(served.session):
        cases = {
            "foreign Host": ({**good, "Host": f"attacker.example:{port}"}, 403),
            "rebound Host": ({**good, "Host": "localhost.attacker.example"}, 403),
            "foreign Origin": ({**good, "Origin": "http://attacker.example"}, 403),
            "other local port": ({**good, "Origin": "http://127.0.0.1:1"}, 403),
            "no token": ({"Content-Type": "application/json"}, 401),
            "wrong token": ({**good, "Authorization": "Bearer " + token[::-1]}, 401),
            "wrong cookie": (
                {"Content-Type": "application/json", "Cookie": f"{COOKIE}_{port}=nope"},
                401,
            ),
            "token in the query": ({"Content-Type": "application/json"}, 401),
        }
        for case, (headers, status) in cases.items():
            target = (
                f"{path}?token={token}" if case == "token in the query" and path != "/" else path
            )
            assert request(served, method, target, headers, body) == status, (method, path, case)
    assert not served.session.table_exists("pwned")


def test_a_cross_site_text_plain_post_is_not_run_even_without_a_token(home: Path):
    with lakeinfer.connect(home, progress=False, sandboxed=True) as session:
        with WorkspaceServer(session, require_token=False) as server:
            assert server.token is None and "token" not in server.url
            body = json.dumps({"sql": "CREATE TABLE pwned AS SELECT 1 AS x"}).encode()
            plain = {"Content-Type": "text/plain"}
            for headers in (
                {**plain, "Origin": "https://attacker.example"},
                {**plain, "Host": f"rebound.attacker.example:{server.port}"},
                plain,  # no Origin (an old browser): still not JSON, so not run
            ):
                assert request(server, "POST", "/api/runs", headers, body) in (403, 415)
            assert not session.table_exists("pwned")
            assert request(server, "GET", "/api/info", {}) == 200  # the opt-out


def test_the_workspace_needs_a_sandboxed_session(home: Path):
    with lakeinfer.connect(home, progress=False) as session:
        with pytest.raises(ConfigError, match="sandboxed=True"):
            WorkspaceServer(session)


def _run(server: WorkspaceServer, sql: str) -> dict[str, Any]:
    status, run = call(server.url, "/api/runs", {"sql": sql})
    assert status == 201, run
    deadline = time.monotonic() + 30
    while run["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        run = call(server.url, f"/api/runs/{run['id']}")[1]
    return run


def test_workspace_sql_reads_no_file_outside_the_lakehouse(served, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("k,v\nkey,hunter2\n")
    (outside / "link").symlink_to(outside / "secret.csv")
    for sql in (
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd', sep => ':')",
        f"SELECT * FROM read_files('{outside}/secret.csv')",
        f"SELECT * FROM read_files('{outside}', format => 'csv')",
        f"SELECT * FROM read_files('{outside}/*.csv')",
        f"SELECT * FROM read_csv('{served.session.home}/../outside/secret.csv')",
        f"SELECT * FROM read_text('{outside}/link')",
        "SELECT * FROM read_parquet('/etc/*.parquet')",
        "SELECT * FROM read_csv('https://example.com/data.csv')",
    ):
        run = _run(served, sql)
        assert run["state"] == "failed", (sql, run)
        message = run["error"]["message"]
        assert "cannot read" in message or "outside the directories" in message, (sql, message)
        assert "hunter2" not in json.dumps(run) and "root:" not in json.dumps(run)
    run = _run(served, "SELECT * FROM read_text('/etc/passwd')")
    assert run["error"]["message"].startswith("cannot read '/etc/passwd'")


def test_allowed_directories_are_readable_and_the_settings_locked(
    home: Path, tmp_path: Path, fake_server
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("id,text\n1,fine\n")
    (tmp_path / "data2").mkdir()
    (tmp_path / "data2" / "rows.csv").write_text("id,text\n2,not allowed\n")
    with lakeinfer.connect(
        home, progress=False, sandboxed=True, allowed_directories=[data]
    ) as session:
        rows = session.sql(f"SELECT * FROM read_files('{data}', header => true)").to_pylist()
        assert rows == [{"id": 1, "text": "fine"}]
        with pytest.raises(LakeinferError, match="outside the directories"):
            session.sql(f"SELECT * FROM read_files('{tmp_path}/data2/rows.csv')").to_arrow()
        con = session._con
        for statement in (
            "SET enable_external_access = true",
            "SET allowed_directories = ['/']",
            "SET autoinstall_known_extensions = true",
        ):
            with pytest.raises(Exception, match="locked"):
                con.execute(statement)
        with pytest.raises(Exception, match="disabled"):
            con.execute("LOAD httpfs")


def test_the_command_prints_its_tokened_address_and_warns_without_one(home: Path, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "LAKEINFER_HOME": str(home)}
    env.pop("LAKEINFER_UI_TOKEN", None)
    base = [sys.executable, "-m", "lakeinfer.cli", "ui", "--no-browser"]
    process = subprocess.Popen(base, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+/)\?token=([\w-]{24,})", line)
        assert found, line
        address, token = found.groups()
        assert call(address, "/api/info")[0] == 401
        assert call(found.group(0), "/api/info")[0] == 200
        run = call(found.group(0), "/api/runs", {"sql": "SELECT * FROM read_text('/etc/passwd')"})
        assert run[0] == 201
    finally:
        process.terminate()
        process.communicate(timeout=10)
    process = subprocess.Popen([*base, "--no-token"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stderr is not None
        warning = process.stderr.readline()
        assert warning.startswith("WARNING: the workspace runs WITHOUT a token"), warning
        address = re.search(r"http://127\.0\.0\.1:\d+/", process.stderr.readline())
        assert address and call(address.group(0), "/api/info")[0] == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)
    refused = subprocess.run(
        [*base, "--no-token", "--host", "0.0.0.0"], capture_output=True, text=True, env=env
    )
    assert refused.returncode == 1 and "without a token" in refused.stderr
