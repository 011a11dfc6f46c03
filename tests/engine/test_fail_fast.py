"""A statement that cannot succeed stops paying at once: fail-fast under ``failOnError``, a
circuit breaker for a dead endpoint, answers cached independently of ``returnType``, ``content:
null`` as a row error, and interrupted statements that record the calls they made.

Calls are counted by the fake server (or, for a port nobody listens on, by the statement's own
history); no timings are asserted."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.errors import EndpointError
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from tests.conftest import configure

ROWS = 2000
CONCURRENCY = 8


def _items(session: lakeinfer.Session, rows: int = ROWS, text: str = "'item ' || s") -> None:
    """Table ``items (id, text)``; ``text`` is SQL over ``id`` (BIGINT) and ``s`` (its text)."""
    session.sql(
        f"CREATE TABLE items AS SELECT id, {text} AS text FROM "
        f"(SELECT CAST(id AS BIGINT) AS id, CAST(id AS STRING) AS s FROM range({rows}) AS r(id))"
    )


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def locked() -> Iterator[FakeOpenAIServer]:
    """A server that answers every request 401 to a client without its token."""
    with FakeOpenAIServer(token="right-token") as server:
        yield server


def test_a_wrong_key_stops_the_statement_within_one_wave_of_calls(
    home: Path, locked: FakeOpenAIServer
):
    configure(home, locked, keyless={"max_concurrency": CONCURRENCY, "max_retries": 3})
    with lakeinfer.connect(home, progress=False) as session:
        _items(session)
        with pytest.raises(EndpointError) as failure:
            session.sql("SELECT id, ai_query('keyless', text) AS r FROM items").to_pylist()
        history = session.sql(
            "SELECT status, calls FROM system.ai.query_history ORDER BY started_at"
        ).to_pylist()
    message = str(failure.value)
    assert "'keyless'" in message and "HTTP 401" in message and "(row " in message
    calls = locked.stats()["chat"]
    assert 1 <= calls <= 2 * CONCURRENCY  # not one call per row
    assert history[-1] == {"status": "FAILED", "calls": calls}

    locked.reset()
    with lakeinfer.connect(home, progress=False) as session:  # a fresh circuit
        rows = session.sql(
            "SELECT ai_query('keyless', text, failOnError => false) AS r FROM items"
        ).to_pylist()
    assert len(rows) == ROWS and all("HTTP 401" in r["r"]["errorMessage"] for r in rows)
    assert locked.stats()["chat"] <= 2 * CONCURRENCY  # the circuit opened after 5 refusals


def test_a_dead_endpoint_trips_the_breaker_instead_of_retrying_every_row(home: Path):
    port = _closed_port()
    endpoint = make_endpoint(
        base_url=f"http://127.0.0.1:{port}/v1",
        model="m",
        max_concurrency=CONCURRENCY,
        max_retries=3,
    )
    save_config(home, LakeinferConfig(endpoints={"dead": endpoint}))
    with lakeinfer.connect(home, progress=False) as session:
        _items(session)
        with pytest.raises(EndpointError) as failure:
            session.sql("SELECT id, ai_query('dead', text) AS r FROM items").to_pylist()
        strict = session.last_stats
        assert strict is not None
        # failOnError => false: every row gets an error, most of them from the open circuit
        rows = session.sql(
            "SELECT ai_query('dead', text, failOnError => false) AS r FROM items"
        ).to_pylist()
        lenient = session.last_stats
    message = str(failure.value)
    assert "'dead'" in message and "cannot reach" in message and "(row " in message
    assert 1 <= strict.ai.calls <= 2 * CONCURRENCY
    assert strict.status == "FAILED"

    errors = [r["r"]["errorMessage"] for r in rows]
    assert len(rows) == ROWS and all(r["r"]["result"] is None for r in rows)
    assert all(e is not None and "cannot reach" in e for e in errors)
    opened = [e for e in errors if "is unavailable (circuit open after" in e]
    assert len(opened) >= ROWS - 2 * CONCURRENCY
    assert lenient is not None and lenient.ai.calls <= 2 * CONCURRENCY


def test_a_failed_cast_stops_the_statement_early_and_names_the_row(
    home: Path, fake_server: FakeOpenAIServer
):
    configure(home, fake_server, chat={"max_concurrency": CONCURRENCY, "max_retries": 0})
    with lakeinfer.connect(home, progress=False) as session:
        # every answer is a number but the third row's
        _items(
            session,
            text="CASE WHEN id = 2 THEN '[[answer:many]]' ELSE '[[answer:' || s || ']]' END",
        )
        with pytest.raises(EndpointError) as failure:
            session.sql(
                "SELECT id, ai_query('chat', text, returnType => 'INT') AS n FROM items"
            ).to_pylist()
    message = str(failure.value)
    assert "(row 3)" in message and "cannot cast the model's answer 'many' to INT" in message
    assert fake_server.stats()["chat"] <= 3 + 2 * CONCURRENCY


def test_a_request_out_of_retries_fails_the_statement_before_the_rest_is_paid(home: Path):
    with FakeOpenAIServer(latency_ms=20) as server:
        configure(home, server, chat={"max_concurrency": 4, "max_retries": 1})
        with lakeinfer.connect(home, progress=False) as session:
            _items(
                session,
                rows=1000,
                text="CASE WHEN id = 0 THEN '[[status:500]]' ELSE 'x' || s END",
            )
            with pytest.raises(EndpointError) as failure:
                session.sql("SELECT id, ai_query('chat', text) AS r FROM items").to_pylist()
            calls = server.stats()["chat"]
    assert "(row 1)" in str(failure.value) and "(after 2 attempts)" in str(failure.value)
    assert calls < 500  # the other 999 rows were not all paid for


def test_fixing_the_return_type_re_runs_from_the_cache(home: Path, fake_server: FakeOpenAIServer):
    configure(home, fake_server, chat={"max_retries": 0})
    with lakeinfer.connect(home, progress=False) as session:
        _items(session, rows=50)
        wrong = session.sql(
            "SELECT ai_query('chat', text, returnType => 'INT', failOnError => false) AS r "
            "FROM items"
        ).to_pylist()
        paid = fake_server.stats()["chat"]
        fixed = session.sql(
            "SELECT id, ai_query('chat', text, returnType => 'STRING') AS r FROM items ORDER BY id"
        ).to_pylist()
    assert all("cannot cast" in r["r"]["errorMessage"] for r in wrong)
    assert paid == 50
    assert fake_server.stats()["chat"] == 50  # the corrected statement made no call
    assert fixed == [{"id": i, "r": f"echo: item {i}"} for i in range(50)]


def test_an_answer_without_content_is_a_row_error(home: Path, fake_server: FakeOpenAIServer):
    configure(home, fake_server, chat={"max_retries": 0})
    with lakeinfer.connect(home, progress=False) as session:
        _items(session, rows=3, text="CASE WHEN id = 1 THEN '[[no-content]]' ELSE 'q' || s END")
        rows = session.sql(
            "SELECT id, ai_query('chat', text, failOnError => false) AS r FROM items ORDER BY id"
        ).to_pylist()
        with pytest.raises(EndpointError, match=r"\(row 2\).*returned no content"):
            session.sql("SELECT ai_query('chat', text) AS r FROM items").to_pylist()
    assert rows[0]["r"] == {"result": "echo: q0", "errorMessage": None}
    assert rows[1]["r"]["result"] is None
    assert rows[1]["r"]["errorMessage"] == (
        "endpoint 'chat' returned no content (finish_reason=content_filter) (after 1 attempt)"
    )
    assert rows[2]["r"]["errorMessage"] is None


def test_an_interrupted_statement_records_the_calls_it_made(home: Path):
    with FakeOpenAIServer(latency_ms=100) as server:
        configure(home, server, chat={"max_concurrency": 4, "max_retries": 0})
        with lakeinfer.connect(home, progress=False) as session:
            _items(session, rows=400)
            main = threading.main_thread().ident
            assert main is not None
            # Ctrl-C: SIGINT to the main thread, which waits for the answers
            interrupt = threading.Timer(1.0, signal.pthread_kill, (main, signal.SIGINT))
            interrupt.start()
            try:
                with pytest.raises(KeyboardInterrupt):
                    session.sql("CREATE TABLE answers AS SELECT ai_query('chat', text) FROM items")
            finally:
                interrupt.cancel()
            (row,) = session.sql(
                "SELECT status, requests, calls FROM system.ai.query_history"
            ).to_pylist()
            assert not session.table_exists("answers")
        served = server.stats()["chat"]
    assert row["status"] == "CANCELLED"
    assert row["requests"] < 400  # it was stopped midway
    assert row["calls"] >= 4 and row["calls"] >= row["requests"]
    assert served - 4 <= row["calls"] <= served  # what was sent, less at most those in flight
