"""Statements stream their rows through ai_query in batches, into one Delta commit."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

import lakeinfer.engine.query as query_module
from lakeinfer.errors import EndpointError

ROWS = 50


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 8 rows, so 50 rows take 7 batches."""
    monkeypatch.setattr(query_module, "BATCH_ROWS", 8)


def _questions(session, rows: int = ROWS, distinct: int = ROWS) -> None:
    session.sql("CREATE TABLE q (id BIGINT, k STRING)")
    session.sql(
        f"INSERT INTO q SELECT id, 'question ' || CAST(id % {distinct} AS STRING) FROM range({rows})"
    )


def _table(session, name: str) -> DeltaTable:
    return DeltaTable(
        str(session.catalog.table_path(session.catalog.qualify([name], session.namespace)))
    )


def test_ctas_over_many_batches_answers_every_row_once_in_one_commit(
    session, fake_server, small_batches
):
    _questions(session)
    fake_server.reset()
    result = session.sql(
        "CREATE TABLE out AS SELECT id, upper(ai_query('chat', k)) AS a FROM q"
    ).to_pylist()
    assert result == [{"num_affected_rows": ROWS, "num_inserted_rows": ROWS}]
    assert fake_server.stats()["chat"] == ROWS
    rows = session.sql("SELECT id, a FROM out ORDER BY id").to_pylist()
    assert rows == [{"id": i, "a": f"ECHO: QUESTION {i}"} for i in range(ROWS)]
    table = _table(session, "out")
    assert table.version() == 0 and len(table.history()) == 1
    assert session.last_stats.ai.requests == ROWS


@pytest.mark.parametrize("cache", ["true", "false"])
def test_identical_requests_in_different_batches_cost_one_call(
    session, fake_server, small_batches, cache
):
    _questions(session, distinct=5)  # every batch of 8 repeats requests of earlier batches
    session.sql(f"SET lakeinfer.cache = {cache}")
    fake_server.reset()
    rows = session.sql("SELECT id, ai_query('chat', k) AS a FROM q ORDER BY id").to_pylist()
    assert [r["a"] for r in rows] == [f"echo: question {i % 5}" for i in range(ROWS)]
    assert fake_server.stats()["chat"] == 5


def test_a_failing_batch_leaves_the_existing_table_untouched(session, fake_server, small_batches):
    _questions(session)
    session.sql("INSERT INTO q VALUES (100, 'bad [[status:400]]')")  # last, in its own batch
    session.sql("CREATE TABLE out (id BIGINT, a STRING)")
    session.sql("INSERT INTO out VALUES (1, 'kept')")
    before = _table(session, "out").version()
    for statement in (
        "INSERT INTO out SELECT id, ai_query('chat', k) FROM q ORDER BY id",
        "INSERT OVERWRITE out SELECT id, ai_query('chat', k) FROM q ORDER BY id",
        "CREATE OR REPLACE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q ORDER BY id",
    ):
        with pytest.raises(EndpointError, match="row 51"):
            session.sql(statement)
        assert _table(session, "out").version() == before
        assert session.sql("SELECT * FROM out").to_pylist() == [{"id": 1, "a": "kept"}]


def test_a_failed_ctas_leaves_no_table_and_no_files(session, fake_server, small_batches):
    _questions(session)
    session.sql("INSERT INTO q VALUES (100, 'bad [[status:400]]')")
    with pytest.raises(EndpointError, match="row 51"):
        session.sql("CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q ORDER BY id")
    assert not session.catalog.exists(session.catalog.qualify(["out"], session.namespace))
    schema_dir = session.catalog.table_path(
        session.catalog.qualify(["q"], session.namespace)
    ).parent
    assert sorted(p.name for p in schema_dir.iterdir()) == ["q"]
    # the rows answered before the failure are cached: the fixed statement pays only the rest
    fake_server.reset()
    session.sql("CREATE TABLE out AS SELECT id, ai_query('chat', k) AS a FROM q WHERE id < 100")
    assert fake_server.stats()["chat"] == 0
    assert session.sql("SELECT count(*) AS n FROM out").to_pylist() == [{"n": ROWS}]


def test_insert_by_name_and_an_empty_result_stream_too(session, fake_server, small_batches):
    _questions(session)
    session.sql("CREATE TABLE out (a STRING, id BIGINT, note STRING)")
    session.sql("INSERT INTO out (id, a) SELECT id, ai_query('chat', k) FROM q WHERE id < 20")
    rows = session.sql("SELECT * FROM out ORDER BY id").to_pylist()
    assert rows == [{"a": f"echo: question {i}", "id": i, "note": None} for i in range(20)]
    session.sql("CREATE TABLE none AS SELECT id, ai_query('chat', k) AS a FROM q WHERE id < 0")
    assert session.sql("SELECT count(*) AS n FROM none").to_pylist() == [{"n": 0}]
    assert session.catalog.schema(session.catalog.qualify(["none"], session.namespace)).names == [
        "id",
        "a",
    ]
