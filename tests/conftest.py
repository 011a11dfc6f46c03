"""Shared fixtures: a lakehouse in a temporary directory and a counting OpenAI-compatible server.

Call counts in tests are read from the server (``fake_server.stats()``), never from the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.session import Session
from lakeinfer.testing.fake_openai import FakeOpenAIServer


@pytest.fixture(scope="session", autouse=True)
def _weights_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Converted model weights go to a folder of this test run, not the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKEINFER_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def _server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake_server(_server: FakeOpenAIServer) -> FakeOpenAIServer:
    """The shared fake server, with its counters reset for this test."""
    _server.reset()
    return _server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse"


def configure(home: Path, server: FakeOpenAIServer, **endpoints: dict) -> None:
    """Write ``config.toml`` with endpoints pointing at ``server`` (the user's path)."""
    config = LakeinferConfig(
        endpoints={
            name: make_endpoint(base_url=server.base_url, model=name, **options)
            for name, options in endpoints.items()
        }
    )
    save_config(home, config)


@pytest.fixture
def session(home: Path, fake_server: FakeOpenAIServer) -> Iterator[Session]:
    """A session with a chat endpoint ``chat`` and an embeddings endpoint ``emb``."""
    configure(home, fake_server, chat={"max_retries": 0}, emb={"task": "embeddings"})
    notices: list[str] = []
    with lakeinfer.connect(home, notice=notices.append, progress=False) as s:
        s.notices = notices  # type: ignore[attr-defined]
        yield s
