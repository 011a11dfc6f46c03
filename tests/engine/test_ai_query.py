"""ai_query end to end: DuckDB + Delta tables + a real HTTP server that counts requests."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from lakeinfer.errors import AnalysisError, EndpointError, UnknownEndpointError


def _reviews(session, rows: int = 4) -> None:
    session.sql("CREATE TABLE reviews (id BIGINT, text STRING)")
    if rows:
        session.sql(
            "INSERT INTO reviews SELECT id, 'review ' || CAST(id AS STRING) "
            f"FROM range({rows}) AS r(id)"
        )


def _big_table(session, rows: int = 10_000) -> None:
    table = session.catalog.qualify(["big"], session.namespace)
    session.catalog.write(
        table,
        pa.table(
            {"id": pa.array(range(rows), pa.int64()), "text": [f"text {i}" for i in range(rows)]}
        ),
        "append",
    )


def test_answers_each_row_in_order_with_other_columns_unchanged(session, fake_server):
    _reviews(session)
    rows = session.sql(
        "SELECT id, ai_query('chat', 'Summarize: ' || text) AS summary FROM reviews ORDER BY id"
    ).to_pylist()
    assert rows == [{"id": i, "summary": f"echo: Summarize: review {i}"} for i in range(4)]
    assert fake_server.stats()["chat"] == 4


@pytest.mark.parametrize("order", ["", "ORDER BY id DESC"])
def test_limit_bounds_calls_on_a_large_delta_table(session, fake_server, order):
    _big_table(session)
    rows = session.sql(
        f"SELECT id, ai_query('chat', text) AS answer FROM big {order} LIMIT 10"
    ).to_pylist()
    assert len(rows) == 10
    assert fake_server.stats()["chat"] == 10
    if order:
        assert [r["id"] for r in rows] == list(range(9_999, 9_989, -1))
    assert all(r["answer"] == f"echo: text {r['id']}" for r in rows)


def test_limit_in_ctas_of_the_seed_shape_bounds_calls(session, fake_server):
    _big_table(session, 2_000)
    session.sql(
        "CREATE TABLE out AS SELECT *, ai_query('chat', request => concat(\"Q: \", text, '\\n')) "
        "AS result FROM main.default.big LIMIT 7"
    )
    assert fake_server.stats()["chat"] == 7
    assert session.sql("SELECT count(*) AS n FROM out").to_pylist() == [{"n": 7}]


def test_identical_requests_cost_one_call(session, fake_server):
    session.sql("CREATE TABLE t (k STRING)")
    session.sql("INSERT INTO t VALUES ('a'), ('b'), ('a'), ('a'), ('b')")
    rows = session.sql("SELECT k, ai_query('chat', k) AS r FROM t").to_pylist()
    assert [r["r"] for r in rows] == ["echo: a", "echo: b", "echo: a", "echo: a", "echo: b"]
    assert fake_server.stats()["chat"] == 2


def test_same_request_with_different_parameters_is_a_different_call(session, fake_server):
    session.sql("CREATE TABLE t (k STRING)")
    session.sql("INSERT INTO t VALUES ('a')")
    session.sql(
        "SELECT ai_query('chat', k) AS x, "
        "ai_query('chat', k, modelParameters => named_struct('max_tokens', 5)) AS y FROM t"
    ).to_arrow()
    assert fake_server.stats()["chat"] == 2


def test_null_request_makes_no_call_and_gives_null(session, fake_server):
    session.sql("CREATE TABLE t (k STRING)")
    session.sql("INSERT INTO t VALUES ('a'), (NULL)")
    rows = session.sql(
        "SELECT ai_query('chat', k) AS strict, "
        "ai_query('chat', k, failOnError => false) AS lenient FROM t"
    ).to_pylist()
    assert rows[1] == {"strict": None, "lenient": {"result": None, "errorMessage": None}}
    assert rows[0]["strict"] == "echo: a"
    assert fake_server.stats()["chat"] == 1


def test_fail_on_error_false_gives_result_and_error_message_per_row(session, fake_server):
    session.sql("CREATE TABLE t (id INT, k STRING)")
    session.sql("INSERT INTO t VALUES (1, 'fine'), (2, 'bad [[status:400]]'), (3, 'also fine')")
    rows = session.sql(
        "SELECT id, ai_query('chat', k, failOnError => false) AS r FROM t ORDER BY id"
    ).to_pylist()
    assert rows[0]["r"] == {"result": "echo: fine", "errorMessage": None}
    assert rows[1]["r"]["result"] is None
    assert "HTTP 400" in rows[1]["r"]["errorMessage"]
    assert "injected failure 400" in rows[1]["r"]["errorMessage"]
    assert rows[2]["r"]["result"] == "echo: also fine"
    schema = session.sql("SELECT ai_query('chat', k, failOnError => false) AS r FROM t").to_arrow()
    assert schema.schema.field("r").type == pa.struct(
        [("result", pa.string()), ("errorMessage", pa.string())]
    )


def test_endpoint_error_fails_the_statement_and_leaves_the_table_unchanged(session, fake_server):
    session.sql("CREATE TABLE t (k STRING)")
    session.sql("INSERT INTO t VALUES ('fine'), ('bad [[status:400]]')")
    session.sql("CREATE TABLE out (k STRING, r STRING)")
    session.sql("INSERT INTO out VALUES ('x', 'y')")
    path = session.catalog.table_path(session.catalog.qualify(["out"], session.namespace))
    before = DeltaTable(str(path))
    version, history = before.version(), len(before.history())

    with pytest.raises(EndpointError) as error:
        session.sql("INSERT INTO out SELECT k, ai_query('chat', k) FROM t")
    assert "'chat'" in str(error.value) and "row 2" in str(error.value)
    assert "HTTP 400" in str(error.value)

    after = DeltaTable(str(path))
    assert (after.version(), len(after.history())) == (version, history)
    assert after.to_pyarrow_table().to_pylist() == [{"k": "x", "r": "y"}]


def test_failed_ctas_leaves_no_table(session, fake_server):
    session.sql("CREATE TABLE t (k STRING)")
    session.sql("INSERT INTO t VALUES ('bad [[status:500]]')")
    with pytest.raises(EndpointError):
        session.sql("CREATE TABLE summaries AS SELECT ai_query('chat', k) AS s FROM t")
    assert not session.catalog.exists(session.catalog.qualify(["summaries"], session.namespace))
    assert "summaries" not in {r["tableName"] for r in session.sql("SHOW TABLES").to_pylist()}


def test_model_parameters_are_sent_and_temperature_defaults_to_zero(session, fake_server):
    session.sql("CREATE TABLE t (k STRING)")
    session.sql("INSERT INTO t VALUES ('a'), ('b')")
    session.sql("SELECT ai_query('chat', k) FROM t WHERE k = 'a'").to_arrow()
    session.sql(
        "SELECT ai_query(endpoint => 'chat', request => k, modelParameters => "
        "named_struct('max_tokens', 100, 'temperature', 0.7, 'stop', array('\\n'))) FROM t "
        "WHERE k = 'b'"
    ).to_arrow()
    first, second = fake_server.stats()["bodies"]
    assert first["temperature"] == 0.0 and "max_tokens" not in first
    assert first["messages"] == [{"role": "user", "content": "a"}]
    assert second["max_tokens"] == 100 and second["temperature"] == 0.7
    assert second["stop"] == ["\n"]


def test_non_constant_model_parameters_fail_before_any_call(session, fake_server):
    session.sql("CREATE TABLE t (k STRING, n INT)")
    session.sql("INSERT INTO t VALUES ('a', 1)")
    with pytest.raises(AnalysisError, match="modelParameters must be constant"):
        session.sql(
            "SELECT ai_query('chat', k, modelParameters => named_struct('max_tokens', n)) FROM t"
        ).to_arrow()
    assert fake_server.stats()["chat"] == 0


def test_embeddings_endpoint_returns_array_of_float(session, fake_server):
    from lakeinfer.testing.fake_openai import embedding_for

    session.sql("CREATE TABLE t (k STRING)")
    session.sql("INSERT INTO t VALUES ('alpha'), ('beta'), ('alpha')")
    table = session.sql("SELECT k, ai_query('emb', k) AS v FROM t").to_arrow()
    assert table.schema.field("v").type == pa.list_(pa.float32())
    vectors = table.column("v").to_pylist()
    assert vectors[0] == pytest.approx(embedding_for("alpha"))
    assert vectors[2] == vectors[0]
    assert fake_server.stats()["embeddings"] == 1  # one batched request for the two distinct texts
    session.sql("CREATE TABLE vecs AS SELECT k, ai_query('emb', k) AS v FROM t")
    described = session.sql("DESCRIBE vecs").to_pylist()
    assert described[1] == {"col_name": "v", "data_type": "ARRAY<FLOAT>", "comment": None}


def test_return_type_casts_the_answer(session, fake_server):
    session.sql("CREATE TABLE t (k STRING)")
    session.sql("INSERT INTO t VALUES ('x')")
    table = session.sql("SELECT ai_query('chat', k, 'STRING', false) AS r FROM t").to_arrow()
    assert table.column("r").to_pylist() == [{"result": "echo: x", "errorMessage": None}]
    table = session.sql(
        "SELECT ai_query('chat', k, returnType => 'INT', failOnError => false) AS r FROM t"
    ).to_arrow()
    row = table.column("r").to_pylist()[0]
    assert row["result"] is None and "cannot cast" in row["errorMessage"]


def test_unknown_endpoint_is_named_with_close_matches(session, fake_server):
    session.sql("CREATE TABLE t (k STRING)")
    session.sql("INSERT INTO t VALUES ('a')")
    with pytest.raises(UnknownEndpointError) as error:
        session.sql("SELECT ai_query('chta', k) FROM t").to_arrow()
    assert "'chta'" in str(error.value) and "did you mean 'chat'" in str(error.value)
    assert fake_server.stats()["chat"] == 0


def test_requests_in_flight_are_bounded_by_the_endpoint_concurrency(home, fake_server):
    import lakeinfer
    from tests.conftest import configure

    configure(home, fake_server, slow={"max_concurrency": 4})
    with lakeinfer.connect(home, progress=False) as session:
        _reviews(session, rows=40)
        session.sql("SELECT ai_query('slow', text) FROM reviews").to_arrow()
    stats = fake_server.stats()
    assert stats["chat"] == 40
    assert 1 <= stats["max_in_flight"] <= 4


def test_ai_calls_outside_the_select_list_still_work(session, fake_server):
    _reviews(session, rows=3)
    rows = session.sql(
        "SELECT id FROM reviews WHERE ai_query('chat', text) = 'echo: review 1'"
    ).to_pylist()
    assert rows == [{"id": 1}]
    grouped = session.sql(
        "SELECT ai_query('chat', CAST(id % 2 AS STRING)) AS parity, count(*) AS n "
        "FROM reviews GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert grouped == [{"parity": "echo: 0", "n": 2}, {"parity": "echo: 1", "n": 1}]


def test_nested_calls_and_expressions_around_calls(session, fake_server):
    _reviews(session, rows=2)
    rows = session.sql(
        "SELECT upper(ai_query('chat', ai_query('chat', text))) || '!' AS shout, id + 1 AS next "
        "FROM reviews ORDER BY id"
    ).to_pylist()
    assert rows == [
        {"shout": "ECHO: ECHO: REVIEW 0!", "next": 1},
        {"shout": "ECHO: ECHO: REVIEW 1!", "next": 2},
    ]
    assert fake_server.stats()["chat"] == 4


def test_configured_endpoint_wins_over_the_embedded_stand_in(home, fake_server):
    import lakeinfer
    from tests.conftest import configure

    name = "databricks-meta-llama-3-1-8b-instruct"
    configure(home, fake_server, **{name: {}})
    notices: list[str] = []
    with lakeinfer.connect(home, notice=notices.append, progress=False) as session:
        session.sql("CREATE TABLE t (text STRING)")
        session.sql("INSERT INTO t VALUES ('hello')")
        rows = session.sql(f"SELECT ai_query('{name}', text) AS r FROM t").to_pylist()
    assert rows == [{"r": "echo: hello"}]
    assert notices == []
    assert fake_server.stats()["chat"] == 1


def test_non_string_requests_are_sent_as_their_text(session, fake_server):
    _reviews(session, rows=2)
    rows = session.sql("SELECT ai_query('chat', id) AS r FROM reviews ORDER BY id").to_pylist()
    assert rows == [{"r": "echo: 0"}, {"r": "echo: 1"}]
