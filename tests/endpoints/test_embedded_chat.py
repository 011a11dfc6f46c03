"""The embedded chat model's server is started again when it dies mid-session."""

from __future__ import annotations

import os
import signal

import lakeinfer
from lakeinfer.endpoints.embedded_chat import EmbeddedChatProvider
from lakeinfer.endpoints.llama_server import shared_server

NAME = "databricks-meta-llama-3-1-8b-instruct"
ASK = f"SELECT ai_query('{NAME}', q, modelParameters => named_struct('max_tokens', 4)) AS a"


def test_a_killed_server_is_restarted_and_the_statement_answered(home):
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        session.sql("SET lakeinfer.cache = false")
        first = session.sql(f"{ASK} FROM (SELECT 'Say yes.' AS q)").to_pylist()
        provider = session.registry.get(NAME)
        assert isinstance(provider, EmbeddedChatProvider)
        dead = shared_server()
        old_pid, old_url = dead._process.pid, dead.base_url  # type: ignore[union-attr]
        os.kill(old_pid, signal.SIGKILL)
        dead._process.wait()  # type: ignore[union-attr]
        second = session.sql(f"{ASK} FROM (SELECT 'Say no.' AS q)").to_pylist()
        stats = session.last_stats
    assert first[0]["a"] and second[0]["a"]
    assert provider.restarts == 1 and provider.server.running
    assert provider.server._process.pid != old_pid  # type: ignore[union-attr]
    assert provider.base_url != old_url or provider.server.api_key != dead.api_key
    assert stats is not None and stats.ai.errors == 0
