"""ai_query against an endpoint that misbehaves: throttling, overload, slow answers, dropped
connections and broken bodies, injected by the fake server (which counts what it served)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.endpoints.base import AIRequest, Outcome
from lakeinfer.endpoints.openai_http import OpenAIProvider
from lakeinfer.testing.fake_openai import FAULT_KINDS, FakeOpenAIServer
from tests.conftest import configure

ROWS = 300
FAULT_RATE = 0.1
FAULT_SEED = 11  # its first 300 picks include every kind of fault
SLOW_MS = 2000.0
#: long enough that an answer delayed by a loaded machine is not taken for a dead endpoint
TIMEOUT_S = 1.0
#: How the error message of a row names each kind of fault.
NAMED = {
    "429": "HTTP 429",
    "503": "HTTP 503",
    "slow": f"timed out after {TIMEOUT_S:g}s",
    "drop": "closed the connection without answering",
    "malformed": "malformed JSON",
}


@pytest.fixture(scope="module")
def _faulty() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(fault_rate=FAULT_RATE, fault_seed=FAULT_SEED, slow_ms=SLOW_MS) as server:
        yield server


@pytest.fixture
def faulty(_faulty: FakeOpenAIServer) -> FakeOpenAIServer:
    """A server that faults 10% of requests, counters and fault picks reset for this test."""
    _faulty.reset()
    return _faulty


def _items(session: lakeinfer.Session, rows: int = ROWS) -> None:
    session.sql("CREATE TABLE items (id BIGINT, text STRING)")
    session.sql(
        f"INSERT INTO items SELECT id, 'item ' || CAST(id AS STRING) FROM range({rows}) AS r(id)"
    )


LENIENT = "SELECT id, ai_query('{}', text, failOnError => false) AS r FROM items ORDER BY id"


def test_every_row_is_answered_exactly_once_through_faults(home: Path, faulty: FakeOpenAIServer):
    configure(
        home,
        faulty,
        flaky={"timeout_s": TIMEOUT_S, "max_retries": 10, "max_concurrency": 16},
    )
    with lakeinfer.connect(home, progress=False) as session:
        _items(session)
        rows = session.sql(LENIENT.format("flaky")).to_pylist()
        last = session.last_stats
    assert [r["id"] for r in rows] == list(range(ROWS))  # no row lost, none duplicated
    wrong = [r for r in rows if r["r"] != {"result": f"echo: item {r['id']}", "errorMessage": None}]
    assert not wrong, wrong[:3]

    served = faulty.stats()
    faults = served["faults"]
    assert all(faults[kind] > 0 for kind in FAULT_KINDS), faults
    # each row got exactly one good answer, and only the faulted requests were sent again
    assert served["answered"] == {f"item {i}": 1 for i in range(ROWS)}
    assert served["chat"] == ROWS + sum(faults.values())

    assert last is not None
    stats = last.ai
    assert stats.retries == sum(faults.values()) > 0
    assert stats.throttled == faults["429"] + faults["503"]
    assert stats.timeouts == faults["slow"]
    assert stats.requests == ROWS and stats.errors == 0


def test_without_retries_each_faulted_row_says_what_happened(home: Path, faulty: FakeOpenAIServer):
    configure(
        home,
        faulty,
        brittle={"timeout_s": TIMEOUT_S, "max_retries": 0, "max_concurrency": 16},
    )
    with lakeinfer.connect(home, progress=False) as session:
        _items(session)
        rows = session.sql(LENIENT.format("brittle")).to_pylist()
        last = session.last_stats
    assert [r["id"] for r in rows] == list(range(ROWS))
    failed = [r["r"] for r in rows if r["r"]["errorMessage"] is not None]
    served = faulty.stats()
    faults = served["faults"]
    assert len(failed) == sum(faults.values()) > 0
    assert served["chat"] == ROWS  # one request per row, no retries
    assert len(served["answered"]) == ROWS - len(failed)

    assert all(r["result"] is None for r in failed)
    assert all(r["errorMessage"].endswith("(after 1 attempt)") for r in failed)
    named = {kind: sum(text in r["errorMessage"] for r in failed) for kind, text in NAMED.items()}
    assert named == faults  # every failure names what happened, as often as it happened
    assert last is not None and last.ai.errors == len(failed) and last.ai.retries == 0


def test_requests_per_minute_is_obeyed_at_the_server(home: Path, fake_server: FakeOpenAIServer):
    configure(home, fake_server, paced={"requests_per_minute": 1200, "max_concurrency": 8})
    with lakeinfer.connect(home, progress=False) as session:
        _items(session, rows=40)
        rows = session.sql("SELECT ai_query('paced', text) AS r FROM items").to_pylist()
    assert len(rows) == 40 and all(r["r"] is not None for r in rows)
    arrivals = sorted(fake_server.stats()["arrivals"])
    assert len(arrivals) == 40
    per_minute = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) * 60
    assert 1200 * 0.9 <= per_minute <= 1200 * 1.1, per_minute


def test_the_http_provider_classifies_each_fault():
    with FakeOpenAIServer(fault_rate=1.0, fault_seed=3, slow_ms=400) as server:

        async def ask(count: int) -> list[Outcome]:
            provider = OpenAIProvider("f", base_url=server.base_url, model="m", timeout_s=0.1)
            try:
                return [(await provider.infer([AIRequest(f"q{i}")]))[0] for i in range(count)]
            finally:
                await provider.aclose()

        outcomes = asyncio.run(ask(25))
        faults = server.stats()["faults"]
        server.reset()
        again = asyncio.run(ask(25))

    assert sum(faults.values()) == 25
    # the same seed picks the same faults again
    assert [_kind(o) for o in again] == [_kind(o) for o in outcomes]
    kinds = [_kind(o) for o in outcomes]
    assert {kind: kinds.count(kind) for kind in FAULT_KINDS} == faults
    for kind, outcome in zip(kinds, outcomes, strict=True):
        assert outcome.retryable
        assert outcome.throttled == (kind in ("429", "503"))
        assert outcome.retry_after == (0.05 if kind == "429" else None)


def _kind(outcome: Outcome) -> str:
    """Which fault an outcome of the HTTP provider reports."""
    assert outcome.error is not None
    if outcome.timed_out:
        return "slow"
    return next(kind for kind, text in NAMED.items() if text in outcome.error)
