"""Cancelling a statement: the token, the scheduler stopping its calls, and nothing written."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.catalog.delta_catalog import TableName
from lakeinfer.endpoints.base import AIRequest, Capabilities, Outcome, Provider
from lakeinfer.engine.history import HISTORY_TABLE
from lakeinfer.errors import StatementCancelledError
from lakeinfer.runtime.cancel import CancelToken
from lakeinfer.runtime.limits import EndpointLimits
from lakeinfer.runtime.progress import LiveProgress
from lakeinfer.runtime.scheduler import run_requests
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from tests.conftest import configure


def test_token_runs_each_callback_once_and_late_ones_at_once():
    token, calls = CancelToken(), []
    token.on_cancel(lambda: calls.append("a"))
    unregister = token.on_cancel(lambda: calls.append("b"))
    unregister()
    token.cancel()
    token.cancel()
    token.on_cancel(lambda: calls.append("late"))
    assert calls == ["a", "late"]
    assert token.cancelled
    with pytest.raises(StatementCancelledError, match="nothing was written"):
        token.raise_if_cancelled()


class SlowProvider(Provider):
    """Answers each request after ``delay`` seconds; counts calls started and finished."""

    def __init__(self, delay: float):
        self.name = "slow"
        self.capabilities = Capabilities(task="chat", max_concurrency=2)
        self.delay = delay
        self.started = 0
        self.finished = 0

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        self.started += 1
        await asyncio.sleep(self.delay)
        self.finished += 1
        return [Outcome(value="ok", prompt_tokens=1) for _ in batch]


def test_scheduler_cancels_the_calls_in_flight_and_makes_no_more():
    provider, token, answered = SlowProvider(0.05), CancelToken(), []

    def on_outcome(key, outcome):
        answered.append(key)
        if len(answered) == 3:
            threading.Thread(target=token.cancel).start()  # as a cancel button would

    async def main():
        items = ((i, AIRequest(f"r{i}")) for i in range(100))
        limits = EndpointLimits(max_concurrency=2, max_retries=0, timeout_s=10)
        await run_requests(provider, items, on_outcome, limits=limits, cancel=token)

    started = time.monotonic()
    with pytest.raises(StatementCancelledError) as caught:
        asyncio.run(main())
    assert time.monotonic() - started < 2
    assert provider.started < 10 and provider.finished < provider.started + 1
    assert caught.value.stats.requests == len(answered) >= 3  # what was spent is reported


def test_a_cancelled_token_stops_the_run_before_any_call():
    provider, token = SlowProvider(0.01), CancelToken()
    token.cancel()

    async def main():
        await run_requests(provider, [(0, AIRequest("x"))], lambda k, o: None, cancel=token)

    with pytest.raises(StatementCancelledError):
        asyncio.run(main())
    assert provider.finished == 0


@pytest.fixture(scope="module")
def slow_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency_ms=200) as server:
        yield server


def _cancel_midway(session, sql: str, progress: LiveProgress) -> BaseException | None:
    """Run ``sql`` on a thread and cancel it once a few answers are in."""
    token, failure = CancelToken(), []

    def work():
        try:
            with session.monitored(progress, token):
                session.sql(sql)
        except BaseException as exc:  # handed to the test
            failure.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 20
    while progress.snapshot().done < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    token.cancel()
    thread.join(timeout=10)
    assert not thread.is_alive()
    return failure[0] if failure else None


@pytest.mark.parametrize("shape", ["insert", "ctas"])
def test_cancelling_a_write_midway_leaves_the_table_as_it_was(
    tmp_path: Path, slow_server: FakeOpenAIServer, shape: str
):
    home = tmp_path / "lakehouse"
    configure(home, slow_server, slow={"max_concurrency": 2, "price_input_per_million": 1.0})
    slow_server.reset()
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        session.sql("CREATE TABLE docs (id INT, text STRING)")
        rows = ", ".join(f"({i}, 'document {i}')" for i in range(30))
        session.sql(f"INSERT INTO docs VALUES {rows}")
        session.sql("CREATE TABLE out (id INT, answer STRING)")
        out = TableName("main", "default", "out")
        version = session.catalog.version(out)
        query = "SELECT id, ai_query('slow', text) AS answer FROM docs"
        sql = f"INSERT INTO out {query}" if shape == "insert" else f"CREATE TABLE made AS {query}"
        progress = LiveProgress(session.registry.prices_of)

        error = _cancel_midway(session, sql, progress)

        assert isinstance(error, StatementCancelledError)
        calls = slow_server.stats()["chat"]
        time.sleep(0.5)  # more than two answers' time: nothing may still be calling
        assert slow_server.stats()["chat"] == calls < 30
        assert session.catalog.version(out) == version
        assert session.table("out").to_arrow().num_rows == 0
        assert not session.table_exists("made")
        snapshot = progress.snapshot()
        assert snapshot.total == 30 and 3 <= snapshot.done < 30
        assert snapshot.cost_usd is not None and snapshot.cost_usd > 0
        history = session.catalog.dataset(HISTORY_TABLE).to_table().to_pylist()
        assert history[-1]["status"] == "CANCELLED"
        assert history[-1]["calls"] >= 3  # the calls made before the cancel are accounted
        # the session is usable afterwards
        session.sql(f"INSERT INTO out {query} LIMIT 2")
        assert session.table("out").to_arrow().num_rows == 2


def test_cancel_interrupts_a_long_duckdb_query(tmp_path: Path):
    with lakeinfer.connect(tmp_path / "lakehouse", progress=False) as session:
        token = CancelToken()
        timer = threading.Timer(0.3, token.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(StatementCancelledError), session.monitored(cancel=token):
            query = "SELECT count(*) AS c FROM range(5000000000) AS r(x) WHERE x % 7 = 3"
            session.sql(query).to_arrow()
        assert time.monotonic() - started < 5
        timer.join()
        assert session.sql("SELECT 1 AS one").to_pylist() == [{"one": 1}]
