"""`lakeinfer serve` as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import openai
import pytest

from lakeinfer.config import LakeinferConfig, make_endpoint, save_config

TOKEN = "tok-9f2c"


def serve(home, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lakeinfer.cli", "--home", str(home), "serve", *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_serve_binds_loopback_answers_and_stops_on_sigterm(home, fake_server):
    save_config(
        home,
        LakeinferConfig(
            endpoints={"chat": make_endpoint(base_url=fake_server.base_url, model="fake")}
        ),
    )
    process = serve(home, "--port", "0", "--endpoint", "chat", "--token-env", "T", env={"T": TOKEN})
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+)/v1 .*\(bearer token required\)", line)
        assert match, line
        assert TOKEN not in line  # the token itself is never printed
        client = openai.OpenAI(base_url=match.group(1) + "/v1", api_key=TOKEN, max_retries=0)
        answer = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "ping"}]
        )
        assert answer.choices[0].message.content == "echo: ping"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert process.stderr is not None
        process.stderr.close()


def test_serve_makes_prints_and_requires_a_token_by_default(home, fake_server):
    save_config(
        home,
        LakeinferConfig(
            endpoints={"chat": make_endpoint(base_url=fake_server.base_url, model="fake")}
        ),
    )
    process = serve(home, "--port", "0", "--endpoint", "chat")
    try:
        assert process.stderr is not None
        match = re.search(r"at (http://127\.0\.0\.1:\d+)/v1 ", process.stderr.readline())
        assert match
        told = re.search(r"'Authorization: Bearer ([\w-]{24,})'", process.stderr.readline())
        assert told, "the made token is printed"
        url, token = match.group(1) + "/v1", told.group(1)
        refused = openai.OpenAI(base_url=url, api_key="-", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            refused.models.list()
        allowed = openai.OpenAI(base_url=url, api_key=token, max_retries=0)
        assert [m.id for m in allowed.models.list()] == ["chat"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert process.stderr is not None
        process.stderr.close()


def test_no_token_warns_and_is_refused_off_loopback(home):
    process = serve(home, "--host", "0.0.0.0", "--port", "0", "--no-token")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "refusing to serve the endpoints on 0.0.0.0 without a token" in err
    process = serve(home, "--port", "0", "--no-token")
    try:
        assert process.stderr is not None
        warning = process.stderr.readline()
        assert warning.startswith("WARNING: serving WITHOUT a token (--no-token)"), warning
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert process.stderr is not None
        process.stderr.close()
