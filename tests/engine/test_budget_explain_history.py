"""Token budgets, EXPLAIN without calls, and the query history in system.ai."""

from __future__ import annotations

import pytest

import lakeinfer
from lakeinfer.errors import BudgetExceededError, EndpointError
from tests.conftest import configure


@pytest.fixture
def s(home, fake_server):
    configure(
        home,
        fake_server,
        chat={"price_input_per_million": 1.0, "price_output_per_million": 2.0},
        logged={"log_requests": True, "max_retries": 0},
    )
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE t (id BIGINT, k STRING)")
        session.sql(
            "INSERT INTO t SELECT id, 'question number ' || CAST(id AS STRING) FROM range(20)"
        )
        yield session


def test_budget_refuses_before_any_call_and_writes_nothing(s, fake_server):
    s.sql("SET lakeinfer.budget_tokens = 100")
    with pytest.raises(BudgetExceededError, match="no model was called"):
        s.sql("CREATE TABLE out AS SELECT ai_query('chat', k) AS r FROM t")
    assert fake_server.stats()["chat"] == 0
    assert not s.catalog.exists(s.catalog.qualify(["out"], s.namespace))


def test_budget_stops_a_run_whose_real_usage_exceeds_it(s, fake_server):
    s.sql("SET lakeinfer.max_concurrency = 1")  # answers arrive one by one
    s.sql("SET lakeinfer.budget_tokens = 125")
    # the estimate (max_tokens = 1) passes; the real answers are longer
    query = (
        "CREATE TABLE out AS SELECT ai_query('chat', k, modelParameters => "
        "named_struct('max_tokens', 1)) AS r FROM t"
    )
    with pytest.raises(BudgetExceededError, match="was stopped and nothing was written"):
        s.sql(query)
    assert 0 < fake_server.stats()["chat"] < 20
    assert not s.catalog.exists(s.catalog.qualify(["out"], s.namespace))


def test_explain_shows_requests_and_tokens_without_calling(s, fake_server):
    s.sql("SELECT ai_query('chat', k) FROM t WHERE id < 2").to_arrow()  # 2 answers cached
    plan = [
        r["plan"]
        for r in s.sql(
            "EXPLAIN SELECT id, ai_query('chat', k) AS r FROM t WHERE id < 5"
        ).to_pylist()
    ]
    assert fake_server.stats()["chat"] == 2
    assert "yields 5 rows" in plan[0]
    assert "5 rows, 5 distinct requests, 2 cached, 3 to call" in plan[1]
    assert plan[-1].startswith("estimated total: ~")
    nested = [
        r["plan"]
        for r in s.sql("EXPLAIN SELECT ai_query('chat', ai_query('chat', k)) FROM t").to_pylist()
    ]
    assert any("depend on other AI answers" in line for line in nested)


def test_history_records_each_ai_statement_with_cost(s, fake_server):
    s.sql("SELECT ai_query('chat', k) FROM t WHERE id < 3").to_arrow()
    s.sql("SELECT ai_query('chat', k) FROM t WHERE id < 3").to_arrow()
    rows = s.sql(
        "SELECT status, requests, calls, cache_hits, prompt_tokens, estimated_cost_usd, "
        "statement, endpoints FROM system.ai.query_history ORDER BY started_at"
    ).to_pylist()
    assert [(r["requests"], r["calls"], r["cache_hits"]) for r in rows] == [(3, 3, 0), (3, 0, 3)]
    assert rows[0]["status"] == "FINISHED" and rows[0]["endpoints"] == ["chat"]
    assert rows[0]["prompt_tokens"] > 0 and rows[0]["estimated_cost_usd"] > 0
    assert rows[0]["statement"] == "SELECT ai_query('chat', k) FROM t WHERE id < 3"


def test_the_history_reads_as_empty_before_the_first_ai_statement(tmp_path):
    with lakeinfer.connect(tmp_path / "home", progress=False) as session:
        for table in ("query_history", "inference_log"):
            rows = session.sql(f"SELECT count(*) AS n FROM system.ai.{table}").to_pylist()
            assert rows == [{"n": 0}]


def test_a_history_table_of_an_older_version_gains_the_new_columns(s, fake_server):
    import pyarrow as pa

    from lakeinfer.engine.history import HISTORY_SCHEMA, HISTORY_TABLE

    older = pa.schema([f for f in HISTORY_SCHEMA if f.name != "packed_calls"])
    s.catalog.create_schema("system", "ai", if_not_exists=True)
    s.catalog.write(HISTORY_TABLE, older.empty_table(), "append")
    s.sql("SELECT ai_query('chat', k) FROM t WHERE id < 2").to_arrow()
    (row,) = s.sql("SELECT calls, packed_calls FROM system.ai.query_history").to_pylist()
    assert row == {"calls": 2, "packed_calls": 0}


def test_failed_statements_are_in_the_history_and_requests_in_the_log(s, fake_server):
    s.sql("INSERT INTO t VALUES (99, 'bad [[status:400]]')")
    with pytest.raises(EndpointError):
        s.sql("SELECT ai_query('logged', k) FROM t WHERE id >= 18").to_arrow()
    (row,) = s.sql("SELECT status, error, errors FROM system.ai.query_history").to_pylist()
    assert row["status"] == "FAILED" and "HTTP 400" in row["error"] and row["errors"] == 1
    log = s.sql(
        "SELECT request, response, status, error, latency_ms, attempts "
        "FROM system.ai.inference_log ORDER BY request"
    ).to_pylist()
    # the failed row stopped the statement: requests still in flight then were cancelled,
    # so only the answers that arrived before it are logged
    assert [r["status"] for r in log if r["status"] == "ERROR"] == ["ERROR"]
    assert len(log) <= 3 and log[0]["status"] == "ERROR" and "HTTP 400" in log[0]["error"]
    assert all(r["latency_ms"] > 0 and r["attempts"] == 1 for r in log)
    assert all(r["response"] == "echo: " + r["request"] for r in log[1:])
