"""Endpoint routing: configured endpoint > Databricks workspace > embedded stand-in."""

from __future__ import annotations

import json

import pytest

from lakeinfer.testing.fake_openai import FakeOpenAIServer
from tests.conftest import configure
from tests.test_cli import run

TOKEN = "dapi-workspace-secret-0123456789"
NAME = "databricks-meta-llama-3-3-70b-instruct"


@pytest.fixture
def workspace():
    """A fake Databricks workspace on 127.0.0.1 that requires the bearer token."""
    with FakeOpenAIServer(keep_bodies=True, token=TOKEN) as server:
        yield server


def test_preprovisioned_names_route_to_the_workspace_with_the_token(home, workspace):
    env = {"DATABRICKS_HOST": workspace.url, "DATABRICKS_TOKEN": TOKEN}
    result = run(
        home,
        "sql",
        f"SELECT ai_query('{NAME}', 'Summarize: ' || x) AS s FROM VALUES ('a'), ('b') AS t(x)",
        "--format",
        "json",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["s"] for line in result.stdout.splitlines()] == [
        "echo: Summarize: a",
        "echo: Summarize: b",
    ]
    stats = workspace.stats()
    assert {h["path"] for h in stats["headers"]} == {"/serving-endpoints/chat/completions"}
    assert {h["Authorization"] for h in stats["headers"]} == {f"Bearer {TOKEN}"}
    assert {b["model"] for b in stats["bodies"]} == {NAME}
    assert f"answered by the Databricks workspace {workspace.url}" in result.stderr
    assert TOKEN not in result.stdout + result.stderr
    history = run(home, "sql", "SELECT * FROM system.ai.query_history", "--format", "json", env=env)
    assert TOKEN not in history.stdout + history.stderr


def test_a_wrong_token_is_reported_without_echoing_it(home, workspace):
    wrong = "dapi-wrong-token-value-987"
    result = run(
        home,
        "sql",
        f"SELECT ai_query('{NAME}', 'x', failOnError => true)",
        env={"DATABRICKS_HOST": workspace.url, "DATABRICKS_TOKEN": wrong},
    )
    assert result.returncode == 1
    assert "401" in result.stderr and NAME in result.stderr
    assert wrong not in result.stdout + result.stderr


def test_configured_endpoint_wins_over_the_workspace(home, workspace, fake_server):
    configure(home, fake_server, **{NAME: {"max_retries": 0}})
    result = run(
        home,
        "sql",
        f"SELECT ai_query('{NAME}', 'hello') AS s",
        "--format",
        "json",
        env={"DATABRICKS_HOST": workspace.url, "DATABRICKS_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"s": "echo: hello"}
    assert workspace.stats()["chat"] == 0
    assert fake_server.stats()["chat"] == 1


def test_unknown_endpoint_suggests_close_names(home, fake_server):
    configure(home, fake_server, **{"my-summarizer": {}})
    result = run(home, "sql", "SELECT ai_query('my-sumarizer', 'x')")
    assert result.returncode == 1
    assert "my-sumarizer" in result.stderr and "did you mean 'my-summarizer'" in result.stderr


class _Invocations:
    """A fake workspace's custom model endpoint: doubles ``x`` of each record."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict]] = []

    def __enter__(self) -> _Invocations:
        import asyncio
        import threading

        from aiohttp import web

        async def invoke(request: web.Request) -> web.Response:
            body = await request.json()
            self.seen.append((request.path, request.headers.get("Authorization", ""), body))
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"message": "bad token"}, status=401)
            records = body.get("dataframe_records") or []
            return web.json_response({"predictions": [r["x"] * 2 for r in records]})

        app = web.Application()
        app.router.add_post("/serving-endpoints/{name}/invocations", invoke)
        self.loop = asyncio.new_event_loop()
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._runner = runner
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_other_names_are_workspace_custom_models_through_invocations(home):
    with _Invocations() as workspace:
        result = run(
            home,
            "sql",
            "SELECT x, ai_query('fraud-model', named_struct('x', x), returnType => 'INT') AS y "
            "FROM VALUES (1), (2), (3) AS t(x) ORDER BY x",
            "--format",
            "json",
            env={"DATABRICKS_HOST": workspace.url, "DATABRICKS_TOKEN": TOKEN},
        )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"x": 1, "y": 2},
        {"x": 2, "y": 4},
        {"x": 3, "y": 6},
    ]
    paths = {path for path, _, _ in workspace.seen}
    assert paths == {"/serving-endpoints/fraud-model/invocations"}
    assert {auth for _, auth, _ in workspace.seen} == {f"Bearer {TOKEN}"}
    assert sorted(r["x"] for _, _, body in workspace.seen for r in body["dataframe_records"]) == [
        1,
        2,
        3,
    ]
    assert "custom model serving endpoint of the Databricks workspace" in result.stderr
    assert TOKEN not in result.stdout + result.stderr
