"""An upstream that echoes the key it was sent: the key appears in no output, table or log.

The fake server answers ``[[echo-auth:NNN]]`` prompts with the ``Authorization`` header it
received (a 401 as OpenAI words it, a 400 listing every header, a 200 whose answer quotes it),
and a wrong token with a 401 that quotes it. Every place the text can go is searched.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.serving.server import InferenceServer
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from lakeinfer.ui.server import WorkspaceServer
from tests.test_cli import run
from tests.ui.conftest import call

KEY = "sk-proj-EchoedKey0123456789abcdefghijklmnopqrstuv"
WRONG = "sk-proj-WrongKey9876543210zyxwvutsrqponmlkjihgf"
KEY_ENV = "LAKEINFER_TEST_ECHOED_KEY"
UI_TOKEN = "workspace-token-0123456789"
PROMPTS = ("[[echo-auth:401]]", "[[echo-auth:400]]", "[[echo-auth:200]]", "hello")


def leaks(text: str | bytes, key: str = KEY) -> list[str]:
    """The written forms of ``key`` found in ``text`` (its start is enough: a key cut short
    still leaks)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    forms = {key, key[:20], quote(key, safe=""), json.dumps(key)[1:-1]}
    return sorted(form for form in forms if form in text)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAIServer]:
    """A fake endpoint that requires ``KEY`` and echoes what it gets."""
    with FakeOpenAIServer(token=KEY) as server:
        yield server


@pytest.fixture
def echo_home(home: Path, upstream: FakeOpenAIServer) -> Path:
    endpoint = make_endpoint(
        base_url=upstream.base_url,
        model="m",
        api_key_env=KEY_ENV,
        max_retries=0,
        log_requests=True,
    )
    save_config(home, LakeinferConfig(endpoints={"guarded": endpoint}))
    return home


def values_sql(prompts: tuple[str, ...] = PROMPTS) -> str:
    rows = ", ".join(f"({i}, '{p}')" for i, p in enumerate(prompts))
    return f"SELECT * FROM VALUES {rows} AS t(id, p)"


def test_cli_errors_tables_history_and_the_cache_hold_no_echoed_key(echo_home: Path):
    env = {KEY_ENV: KEY}
    failed = run(
        echo_home,
        "sql",
        "SELECT ai_query('guarded', '[[echo-auth:401]]', failOnError => true) AS a",
        env=env,
    )
    assert failed.returncode == 1
    assert "401" in failed.stderr and "Incorrect API key provided: ***" in failed.stderr
    assert leaks(failed.stdout + failed.stderr) == []

    written = run(
        echo_home,
        "sql",
        "CREATE TABLE main.default.answers AS SELECT id, "
        f"ai_query('guarded', p, failOnError => false) AS r FROM ({values_sql()}); "
        "SELECT id, r.result, r.errorMessage FROM main.default.answers ORDER BY id",
        "--format",
        "json",
        env=env,
    )
    assert written.returncode == 0, written.stderr
    counts, *rows = [json.loads(line) for line in written.stdout.splitlines()]
    assert counts == {"num_affected_rows": 4, "num_inserted_rows": 4}  # the CTAS's counts
    assert [r["result"] for r in rows] == [None, None, "you called with Bearer ***", "echo: hello"]
    assert "Incorrect API key provided: ***" in rows[0]["errorMessage"]
    assert "HTTP 400" in rows[1]["errorMessage"] and "Bearer ***" in rows[1]["errorMessage"]
    assert leaks(written.stdout + written.stderr) == []

    # a statement that fails mid-way is recorded in the history with its error
    again = run(
        echo_home,
        "sql",
        f"SELECT ai_query('guarded', p, failOnError => true) FROM ({values_sql()})",
        env=env,
    )
    assert again.returncode == 1 and leaks(again.stdout + again.stderr) == []
    history = run(
        echo_home,
        "sql",
        "SELECT status, error, statement FROM system.ai.query_history; "
        "SELECT request, response, error FROM system.ai.inference_log",
        "--format",
        "json",
        env=env,
    )
    assert history.returncode == 0, history.stderr
    assert '"FAILED"' in history.stdout and "***" in history.stdout
    assert leaks(history.stdout) == []
    # every byte the lakehouse holds: tables, their logs, the response cache
    for path in echo_home.rglob("*"):
        if path.is_file():
            assert leaks(path.read_bytes()) == [], path


def test_a_wrong_key_echoed_back_is_masked_too(echo_home: Path):
    result = run(
        echo_home,
        "sql",
        "SELECT ai_query('guarded', 'hi', failOnError => false) AS r",
        "--format",
        "json",
        env={KEY_ENV: WRONG},
    )
    assert result.returncode == 0, result.stderr
    assert "Incorrect API key provided: ***" in result.stdout
    assert leaks(result.stdout + result.stderr, WRONG) == []


def test_python_api_exceptions_serve_replies_and_the_workspace_mask_the_key(
    echo_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, KEY)
    with lakeinfer.connect(echo_home, notice=lambda m: None, progress=False) as session:
        with pytest.raises(lakeinfer.LakeinferError) as raised:
            session.sql(
                "SELECT ai_query('guarded', '[[echo-auth:400]]', failOnError => true)"
            ).to_arrow()
        assert "HTTP 400" in str(raised.value)
        assert leaks(str(raised.value)) == [] and leaks(repr(raised.value.args)) == []

        with InferenceServer(session, port=0, names=["guarded"]) as server:
            chat, token = server.url + "/v1/chat/completions", server.token
            replies = [
                post(chat, {"model": "guarded", "messages": [m]}, token)
                for m in ({"role": "user", "content": p} for p in PROMPTS)
            ]
            replies.append(
                post(
                    server.url + "/v1/completions",
                    {"model": "guarded", "prompt": list(PROMPTS)},
                    token,
                )
            )
            replies.append(
                post(
                    server.url + "/serving-endpoints/guarded/invocations",
                    {"prompt": "[[echo-auth:200]]"},
                    token,
                )
            )
        statuses = [status for status, _ in replies]
        assert statuses == [400, 400, 200, 200, 400, 200]
        assert "Incorrect API key provided: ***" in replies[0][1]
        assert "you called with Bearer ***" in replies[2][1] + replies[5][1]
        for _, body in replies:
            assert leaks(body) == [], body

    # the workspace's health check, with a key the upstream refuses and quotes back
    monkeypatch.setenv(KEY_ENV, WRONG)
    with lakeinfer.connect(
        echo_home, notice=lambda m: None, progress=False, sandboxed=True
    ) as session:
        with WorkspaceServer(session, token=UI_TOKEN) as workspace:
            base = workspace.url.split("?")[0]
            auth = {"Authorization": f"Bearer {UI_TOKEN}"}
            status, health = call(base, "/api/endpoints/guarded/health", {}, headers=auth)
            assert status == 200 and health["ok"] is False
            assert "Incorrect API key provided: ***" in health["error"]
            assert leaks(json.dumps(health), WRONG) == []
            status, run_ = call(
                base,
                "/api/runs",
                {"sql": "SELECT ai_query('guarded', 'x', failOnError => true)"},
                headers=auth,
            )
            assert status == 201
            run_ = finish(base, run_["id"], auth)
            assert run_["state"] == "failed" and "***" in run_["error"]["message"]
            assert leaks(json.dumps(run_), WRONG) == []
    assert leaks(caplog.text) == [] and leaks(caplog.text, WRONG) == []


def post(url: str, body: dict, token: str | None) -> tuple[int, str]:
    """POST ``body`` as JSON with the server's bearer ``token``: ``(status, body text)``."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def finish(base: str, run_id: str, headers: dict[str, str]) -> dict:
    """The workspace run once it is over (or after 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        _, state = call(base, f"/api/runs/{run_id}", headers=headers)
        if state["state"] != "running" or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def test_the_fake_servers_token_is_not_on_its_command_line():
    with FakeOpenAIServer(token=KEY) as server:
        cmdline = Path(f"/proc/{server.pid}/cmdline")
        if not cmdline.exists():
            pytest.skip("this system has no /proc")
        assert KEY.encode() not in cmdline.read_bytes()
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        for given, status in (("wrong-key-123", 401), (KEY, 200)):
            headers = {"Authorization": f"Bearer {given}", "Content-Type": "application/json"}
            request = urllib.request.Request(
                server.base_url + "/chat/completions", body.encode(), headers
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    assert response.status == status
            except urllib.error.HTTPError as error:
                with error:
                    assert error.code == status
