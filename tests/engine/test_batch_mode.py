"""Batch mode: a statement's uncached requests answered through the provider's Files + Batches
API (the fake server's), as the online path would answer them, at the batch price.

Counts are read from the fake server: ``batches`` created, ``batch_lines`` answered in batches
(``batch_answered`` per prompt: what was paid for), ``chat`` online calls.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.engine.batch_records import BatchRecords
from lakeinfer.errors import EndpointError
from tests.conftest import configure

PRICES = {"price_input_per_million": 2.0, "price_output_per_million": 8.0}
ROWS = 30


def _connect(home: Path, fake_server, *, batch_mode: str | None = "on", **options):
    endpoint = {"max_retries": 0, **PRICES, **options}
    if batch_mode is not None:
        endpoint["batch_mode"] = batch_mode
    configure(home, fake_server, chat=endpoint)
    session = lakeinfer.connect(home, notice=lambda m: None, progress=False)
    session.sql("SET lakeinfer.batch_poll_s = 0.01")
    session.sql("SET lakeinfer.batch_max_wait_s = 60")
    return session


def _questions(session, rows: int = ROWS, distinct: int = ROWS, marker: str = "") -> None:
    session.sql("CREATE TABLE q (id BIGINT, k STRING)")
    session.sql(
        f"INSERT INTO q SELECT id, 'question ' || CAST(id % {distinct} AS STRING) || "
        f"CASE WHEN id % 7 = 3 THEN '{marker}' ELSE '' END FROM range({rows})"
    )


def _paid_once(stats: dict) -> None:
    assert stats["batch_answered"], "no line was answered in a batch"
    assert max(stats["batch_answered"].values()) == 1


def test_ctas_in_batch_mode_gives_the_online_result_at_the_batch_price(
    tmp_path, fake_server
) -> None:
    statement = (
        "CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a, "
        "ai_query('chat', 'n ' || k, returnType => 'STRING', failOnError => false) AS b "
        "FROM q"
    )
    results = {}
    for mode in ("off", "on"):
        with _connect(tmp_path / mode, fake_server, batch_mode=mode) as session:
            _questions(session, distinct=12)
            fake_server.reset()
            session.sql(statement)
            results[mode] = session.sql("SELECT * FROM out ORDER BY id").to_pylist()
            stats = fake_server.stats()
            summary = session.last_stats.summary()
            if mode == "off":
                assert stats["chat"] == 24 and stats["batches"] == 0
                assert "batch" not in summary and "online price" not in summary
            else:
                # two call sites: each its own batch; no online call
                assert stats["chat"] == 0 and stats["batches"] == 2
                assert stats["batch_lines"] == 24
                _paid_once(stats)
                assert "24 in 2 batches" in summary
                online = session.last_stats.online_cost_usd
                assert session.last_stats.cost_usd == pytest.approx(online / 2)
                assert f"(online price ~${online:.4f})" in summary
                assert session.last_stats.ai.requests == 24
                (row,) = session.sql(
                    "SELECT batch_requests, batches, estimated_cost_usd, online_cost_usd "
                    "FROM system.ai.query_history WHERE statement LIKE 'CREATE TABLE out%'"
                ).to_pylist()
                assert (row["batch_requests"], row["batches"]) == (24, 2)
                assert row["online_cost_usd"] == pytest.approx(2 * row["estimated_cost_usd"])
    assert results["on"] == results["off"]
    assert results["on"][0]["a"] == "echo: question 0"


def test_auto_uses_batches_for_writes_above_the_threshold_never_for_select(
    tmp_path, fake_server
) -> None:
    with _connect(tmp_path, fake_server, batch_mode="auto") as session:
        _questions(session)
        session.sql("SET lakeinfer.batch_min_requests = 20")
        fake_server.reset()
        session.sql("SELECT ai_query('chat', k) FROM q").to_pylist()
        assert fake_server.stats()["batches"] == 0 and fake_server.stats()["chat"] == ROWS
        fake_server.reset()
        session.sql("CREATE TABLE small AS SELECT ai_query('chat', 'x ' || k) FROM q LIMIT 10")
        assert fake_server.stats()["batches"] == 0 and fake_server.stats()["chat"] == 10
        fake_server.reset()
        session.sql("CREATE TABLE big AS SELECT ai_query('chat', 'y ' || k) AS a FROM q")
        stats = fake_server.stats()
        assert stats["batches"] == 1 and stats["chat"] == 0 and stats["batch_lines"] == ROWS
        fake_server.reset()
        session.sql("INSERT INTO big SELECT ai_query('chat', 'z ' || k) FROM q")
        assert fake_server.stats()["batches"] == 1
        # a SET in the session wins over the endpoint's batch_mode
        session.sql("SET lakeinfer.batch_mode = 'off'")
        fake_server.reset()
        session.sql("INSERT INTO big SELECT ai_query('chat', 'w ' || k) FROM q")
        assert fake_server.stats()["batches"] == 0 and fake_server.stats()["chat"] == ROWS


def test_an_endpoint_without_batch_mode_stays_online(tmp_path, fake_server) -> None:
    with _connect(tmp_path, fake_server, batch_mode=None) as session:
        _questions(session)
        fake_server.reset()
        session.sql("CREATE TABLE out AS SELECT ai_query('chat', k) FROM q")
        assert fake_server.stats()["batches"] == 0 and fake_server.stats()["chat"] == ROWS


def test_large_request_sets_split_into_files_within_the_limits(tmp_path, fake_server) -> None:
    with _connect(tmp_path, fake_server) as session:
        _questions(session, rows=60, distinct=25)
        session.sql("SET lakeinfer.batch_max_requests = 10")
        fake_server.reset()
        session.sql("CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q")
        stats = fake_server.stats()
        assert stats["files"] == 3 and stats["batches"] == 3  # 10 + 10 + 5 distinct requests
        assert stats["batch_lines"] == 25 and stats["chat"] == 0
        _paid_once(stats)
        records = list(BatchRecords(session.home))
        assert sorted(r.requests for r in records) == [5, 10, 10]
        assert all(r.collected_at is not None and r.status == "completed" for r in records)
        # bytes: a line is about 150 bytes, so 1,000 bytes hold a handful
        session.sql("SET lakeinfer.batch_max_requests = 50000")
        session.sql("SET lakeinfer.batch_max_bytes = 1000")
        fake_server.reset()
        session.sql("CREATE TABLE out2 AS SELECT id, ai_query('chat', 'b ' || k) AS a FROM q")
        stats = fake_server.stats()
        assert stats["batches"] >= 4 and stats["batch_lines"] == 25
        for record in BatchRecords(session.home):
            assert record.bytes <= 1000 or record.requests == 10
        rows = session.sql("SELECT a FROM out ORDER BY id").to_pylist()
        assert [r["a"] for r in rows] == [f"echo: question {i % 25}" for i in range(60)]


def test_a_partially_failed_batch_retries_only_its_failed_lines_online(
    tmp_path, fake_server
) -> None:
    with _connect(tmp_path, fake_server) as session:
        _questions(session, marker=" [[batch-status:500]]")
        fake_server.reset()
        session.sql("CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q")
        stats = fake_server.stats()
        failing = [i for i in range(ROWS) if i % 7 == 3]
        assert stats["batches"] == 1 and stats["batch_lines"] == ROWS
        assert stats["chat"] == len(failing)  # only the failed lines, once each
        rows = session.sql("SELECT id, a FROM out ORDER BY id").to_pylist()
        for row in rows:
            suffix = " [[batch-status:500]]" if row["id"] in failing else ""
            assert row["a"] == f"echo: question {row['id']}{suffix}"


def test_line_errors_read_as_the_online_path_gives_them(tmp_path, fake_server) -> None:
    statement = (
        "CREATE TABLE out AS SELECT id, ai_query('chat', k, failOnError => false) AS a FROM q"
    )
    results = {}
    for mode in ("off", "on"):
        with _connect(tmp_path / mode, fake_server, batch_mode=mode) as session:
            _questions(session, marker=" [[status:400]]")
            session.sql(statement)
            results[mode] = session.sql("SELECT * FROM out ORDER BY id").to_pylist()
    assert results["on"] == results["off"]
    assert results["on"][3]["a"]["errorMessage"].startswith("HTTP 400")
    # failOnError => true fails the statement naming the endpoint and a failing row
    with _connect(tmp_path / "strict", fake_server) as session:
        _questions(session, marker=" [[status:400]]")
        with pytest.raises(EndpointError, match=r"endpoint 'chat' failed \(row \d+\): HTTP 400"):
            session.sql("CREATE TABLE out AS SELECT ai_query('chat', k) FROM q")
        assert not session.table_exists("out")


def test_an_expired_batch_keeps_its_answers_and_asks_the_rest_online(tmp_path, fake_server) -> None:
    with _connect(tmp_path, fake_server) as session:
        _questions(session, marker=" [[batch:late]]")
        fake_server.reset()
        session.sql("CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q")
        stats = fake_server.stats()
        late = [i for i in range(ROWS) if i % 7 == 3]
        assert stats["batch_lines"] == ROWS - len(late) and stats["chat"] == len(late)
        (record,) = BatchRecords(session.home)
        assert record.status == "expired"
        rows = session.sql("SELECT count(*) AS n FROM out WHERE a LIKE 'echo: %'").to_pylist()
        assert rows == [{"n": ROWS}]


def test_a_failed_batch_fails_the_statement_naming_it(tmp_path, fake_server) -> None:
    with _connect(tmp_path, fake_server) as session:
        _questions(session, marker=" [[batch:invalid]]")
        fake_server.reset()
        with pytest.raises(EndpointError, match=r"batch batch_\w+ failed: invalid_request: .*line"):
            session.sql("CREATE TABLE out AS SELECT ai_query('chat', k) FROM q")
        assert not session.table_exists("out")
        assert fake_server.stats()["batch_lines"] == 0 and fake_server.stats()["chat"] == 0
        (record,) = BatchRecords(session.home)
        assert record.status == "failed"


def test_answers_are_cached_so_a_second_run_submits_nothing(tmp_path, fake_server) -> None:
    with _connect(tmp_path, fake_server) as session:
        _questions(session, rows=40, distinct=10)
        fake_server.reset()
        session.sql("CREATE TABLE a AS SELECT id, ai_query('chat', k) AS a FROM q")
        assert fake_server.stats()["batch_lines"] == 10  # dedup: one line per distinct request
        fake_server.reset()
        session.sql("CREATE TABLE b AS SELECT id, ai_query('chat', k) AS a FROM q")
        assert fake_server.stats()["batches"] == 0 and fake_server.stats()["chat"] == 0
        assert session.last_stats.cache_hits == 10


def test_explain_shows_online_and_batch_price(tmp_path, fake_server) -> None:
    with _connect(tmp_path, fake_server, batch_mode="auto") as session:
        _questions(session)
        session.sql("SET lakeinfer.batch_min_requests = 5")
        ctas = session.sql("EXPLAIN CREATE TABLE t AS SELECT ai_query('chat', k) FROM q")
        lines = [r["plan"] for r in ctas.to_pylist()]
        assert "batch mode auto: batch; price online ~$" in lines[1]
        assert lines[-1].startswith("estimated total: ~") and "(online price ~$" in lines[-1]
        select = session.sql("EXPLAIN SELECT ai_query('chat', k) FROM q").to_pylist()
        assert "batch mode auto: online; price online ~$" in select[1]["plan"]
        assert fake_server.stats()["chat"] == 0 and fake_server.stats()["batches"] == 0


KILLED_RUN = """
import sys, lakeinfer
with lakeinfer.connect(sys.argv[1], progress=False) as session:
    session.sql("SET lakeinfer.batch_poll_s = 0.01")
    session.sql("CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q")
"""


def _wait_for(predicate, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds}s")
        time.sleep(0.05)


def test_a_killed_statement_run_again_picks_up_its_batch(tmp_path, fake_server) -> None:
    home = tmp_path / "lakehouse"
    with _connect(home, fake_server) as session:
        _questions(session)
    fake_server.reset()
    fake_server.hold_batches(True)
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(home)], env=environment, start_new_session=True
    )
    try:
        _wait_for(lambda: fake_server.stats()["batches"] == 1, "the batch submission")
        _wait_for(lambda: list(BatchRecords(home)), "the batch record")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    (record,) = BatchRecords(home)
    assert record.collected_at is None and record.status in ("validating", "in_progress")
    fake_server.hold_batches(False)
    with _connect(home, fake_server) as session:
        assert not session.table_exists("out")
        session.sql("CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q")
        rows = session.sql("SELECT id, a FROM out ORDER BY id").to_pylist()
    assert rows == [{"id": i, "a": f"echo: question {i}"} for i in range(ROWS)]
    stats = fake_server.stats()
    assert stats["files"] == 1 and stats["batches"] == 1  # the same remote batch
    assert stats["batch_lines"] == ROWS and stats["chat"] == 0
    _paid_once(stats)
    (record,) = BatchRecords(home)
    assert record.status == "completed" and record.collected_at is not None
    assert json.loads((home / "_batches" / f"{record.id}.json").read_text())["requests"] == ROWS


def test_batch_mode_setting_is_checked(tmp_path, fake_server) -> None:
    from lakeinfer.errors import AnalysisError

    with _connect(tmp_path, fake_server) as session:
        with pytest.raises(AnalysisError, match="expected 'auto', 'on' or 'off', got 'sometimes'"):
            session.sql("SET lakeinfer.batch_mode = 'sometimes'")
        session.sql("SET lakeinfer.batch_mode = 'AUTO'")
        assert session.sql("SET lakeinfer.batch_mode").to_pylist() == [
            {"key": "lakeinfer.batch_mode", "value": "auto"}
        ]


def test_explain_without_batch_mode_shows_the_online_price_only(tmp_path, fake_server) -> None:
    with _connect(tmp_path, fake_server, batch_mode=None) as session:
        _questions(session)
        plan = session.sql("EXPLAIN CREATE TABLE t AS SELECT ai_query('chat', k) FROM q")
        lines = [r["plan"] for r in plan.to_pylist()]
        assert lines[1].endswith("by max_tokens); price ~$" + lines[1].rsplit("~$", 1)[1])
        assert "batch" not in " ".join(lines) and "online price" not in lines[-1]


def test_waiting_is_bounded_and_the_batch_is_kept_for_a_re_run(tmp_path, fake_server) -> None:
    with _connect(tmp_path, fake_server) as session:
        _questions(session)
        fake_server.hold_batches(True)
        session.sql("SET lakeinfer.batch_max_wait_s = 0.3")
        with pytest.raises(EndpointError, match=r"not finished after lakeinfer.batch_max_wait_s"):
            session.sql("CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q")
        assert not session.table_exists("out")
        fake_server.hold_batches(False)
        session.sql("SET lakeinfer.batch_max_wait_s = 60")
        session.sql("CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q")
        stats = fake_server.stats()
        assert stats["batches"] == 1 and stats["batch_lines"] == ROWS and stats["chat"] == 0


def test_the_same_requests_in_any_order_make_the_same_files() -> None:
    from lakeinfer.endpoints.base import AIRequest
    from lakeinfer.endpoints.openai_http import OpenAIProvider
    from lakeinfer.engine.batch_mode import build_files, record_id

    api = OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", model="m").batch_api()
    assert api is not None
    items = [(i, AIRequest(f"question {i}", {"temperature": 0.0})) for i in range(25)]
    files, online = build_files(api, items, max_requests=10, max_bytes=10_000)
    shuffled, _ = build_files(api, list(reversed(items)), max_requests=10, max_bytes=10_000)
    assert [f.data for f in files] == [f.data for f in shuffled] and not online
    assert [len(f.keys) for f in files] == [10, 10, 5]
    assert len({record_id("id", f.data) for f in files}) == 3
    line = json.loads(files[0].data.splitlines()[0])
    assert set(line) == {"custom_id", "method", "url", "body"}
    assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
    assert line["body"]["messages"][0]["role"] == "user"
    # a request whose one line is over the byte limit is asked online
    big = [(99, AIRequest("x" * 500, {}))]
    files, online = build_files(api, items[:2] + big, max_requests=10, max_bytes=400)
    assert online == big and sum(len(f.keys) for f in files) == 2


def test_a_cancel_stops_the_wait_and_leaves_the_batch_running(tmp_path, fake_server) -> None:
    import threading

    from lakeinfer.errors import StatementCancelledError
    from lakeinfer.runtime.cancel import CancelToken

    with _connect(tmp_path, fake_server) as session:
        _questions(session)
        fake_server.reset()
        fake_server.hold_batches(True)
        token = CancelToken()

        def cancel_once_submitted() -> None:
            _wait_for(lambda: fake_server.stats()["batches"] == 1, "the batch submission")
            token.cancel()

        canceller = threading.Thread(target=cancel_once_submitted)
        canceller.start()
        try:
            with (
                session.monitored(cancel=token),
                pytest.raises(StatementCancelledError, match="batches keep running"),
            ):
                session.sql("CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q")
        finally:
            canceller.join(timeout=60)
        assert not session.table_exists("out")
        (record,) = BatchRecords(session.home)
        assert record.collected_at is None and record.status == "in_progress"


def test_an_id_never_leaves_its_path_segment():
    from lakeinfer.endpoints.openai_batch import OpenAIBatchAPI
    from lakeinfer.endpoints.openai_http import OpenAIProvider
    from lakeinfer.errors import EndpointError

    api = OpenAIBatchAPI(OpenAIProvider("p", base_url="http://127.0.0.1:9/v1", model="m"))
    assert api._segment("batch_abc") == "batch_abc"
    assert api._segment("x/../files?y#z") == "x%2F..%2Ffiles%3Fy%23z"
    with pytest.raises(EndpointError, match="not a batch or file id: '..'"):
        api._segment("..")
