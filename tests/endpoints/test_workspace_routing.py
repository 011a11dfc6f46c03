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
