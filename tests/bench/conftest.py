"""A fake endpoint with a known latency, and a lakehouse whose endpoint ``llm`` points at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.session import Session
from lakeinfer.testing.fake_openai import FakeOpenAIServer

LATENCY_MS = 40.0


@pytest.fixture(scope="module")
def slow_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency_ms=LATENCY_MS, keep_bodies=False) as server:
        yield server


@pytest.fixture
def bench_home(tmp_path: Path, slow_server: FakeOpenAIServer) -> Path:
    home = tmp_path / "lakehouse"
    endpoint = make_endpoint(base_url=slow_server.base_url, model="llm")
    save_config(home, LakeinferConfig(endpoints={"llm": endpoint}))
    return home


@pytest.fixture
def bench_session(bench_home: Path) -> Iterator[Session]:
    with lakeinfer.connect(bench_home, progress=False, notice=lambda _: None) as session:
        yield session
