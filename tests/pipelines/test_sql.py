"""CREATE [OR REFRESH] STREAMING TABLE ... FROM STREAM(t): incremental refreshes in SQL."""

from __future__ import annotations

import pytest

from lakeinfer.errors import AnalysisError, TableExistsError, UnknownTableError

CREATE = (
    "CREATE OR REFRESH STREAMING TABLE s.answers AS "
    "SELECT id, ai_query('chat', text) AS answer FROM STREAM(c.s.src) WHERE id > 0"
)


@pytest.fixture
def src(session):
    session.sql("CREATE CATALOG c; CREATE SCHEMA c.s; CREATE SCHEMA s")
    session.sql("CREATE TABLE c.s.src (id INT, text STRING)")
    return session


def test_refresh_processes_only_new_rows(src, fake_server):
    assert src.sql(CREATE).to_pylist() == [{"num_batches": 0, "num_inserted_rows": 0}]
    assert src.sql("DESCRIBE s.answers").to_pylist()[1]["data_type"] == "STRING"
    src.sql("INSERT INTO c.s.src VALUES (1, 'a'), (2, 'b'), (-1, 'skipped')")
    assert src.sql(CREATE).to_pylist() == [{"num_batches": 1, "num_inserted_rows": 2}]
    src.sql("INSERT INTO c.s.src VALUES (3, 'c')")
    src.sql("INSERT INTO c.s.src VALUES (4, 'd')")
    assert src.sql(CREATE).to_pylist() == [{"num_batches": 1, "num_inserted_rows": 2}]
    assert src.sql(CREATE).to_pylist() == [{"num_batches": 0, "num_inserted_rows": 0}]
    assert src.sql("SELECT * FROM s.answers ORDER BY id").to_pylist() == [
        {"id": i, "answer": f"echo: {t}"} for i, t in zip((1, 2, 3, 4), "abcd", strict=True)
    ]
    assert fake_server.stats()["chat"] == 4
    assert src.last_stats.ai.calls == 2  # the statement's AI usage, as for any statement


def test_stream_source_with_an_alias_and_no_model(src):
    src.sql("INSERT INTO c.s.src VALUES (1, 'a'), (2, 'b')")
    src.sql("CREATE STREAMING TABLE s.tens AS SELECT a.id * 10 AS x FROM STREAM(c.s.src) AS a")
    assert src.sql("SELECT x FROM s.tens ORDER BY x").to_pylist() == [{"x": 10}, {"x": 20}]


def test_create_without_refresh_and_if_not_exists(src):
    plain = CREATE.replace("OR REFRESH ", "")
    src.sql(plain)
    with pytest.raises(TableExistsError, match="use CREATE OR REFRESH STREAMING TABLE"):
        src.sql(plain)
    quiet = plain.replace("TABLE s.answers", "TABLE IF NOT EXISTS s.answers")
    assert src.sql(quiet).to_pylist() == [{"num_batches": 0, "num_inserted_rows": 0}]


def test_drop_then_create_starts_over(src, fake_server):
    src.sql("INSERT INTO c.s.src VALUES (1, 'a')")
    src.sql(CREATE)
    src.sql("DROP TABLE s.answers")
    assert src.sql(CREATE).to_pylist() == [{"num_batches": 1, "num_inserted_rows": 1}]
    assert fake_server.stats()["chat"] == 1  # the answer came from the cache


def test_streaming_table_errors(src):
    with pytest.raises(UnknownTableError, match="c.s.sr"):
        src.sql(CREATE.replace("c.s.src", "c.s.sr"))
    src.sql("CREATE TABLE s.plain (id INT)")
    with pytest.raises(AnalysisError, match="s.plain exists but is not a streaming table"):
        src.sql(CREATE.replace("s.answers", "s.plain"))
    with pytest.raises(AnalysisError, match="exactly one STREAM"):
        src.sql(
            "CREATE OR REFRESH STREAMING TABLE s.j AS SELECT * FROM STREAM(c.s.src) a "
            "JOIN STREAM(c.s.src) b ON a.id = b.id"
        )
    assert not src.catalog.exists(src.catalog.qualify(["s", "j"], src.namespace))


def test_recreating_a_streaming_table_keeps_the_checkpoints_of_other_streams(src):
    from lakeinfer.pipelines.errors import StreamingError

    src.sql("INSERT INTO c.s.src VALUES (1, 'a')")
    src.sql("CREATE TABLE c.s.more (id INT, text STRING)")
    src.sql("INSERT INTO c.s.more VALUES (7, 'g')")
    src.sql("CREATE STREAMING TABLE s.ids AS SELECT id FROM STREAM(c.s.src)")

    def other_stream() -> None:  # a second stream into the same table, kept in the lakehouse
        writer = src.readStream.table("c.s.more").select("id").writeStream
        writer.trigger(availableNow=True).toTable("s.ids").awaitTermination()

    other_stream()
    assert [r["id"] for r in src.sql("SELECT id FROM s.ids ORDER BY id").to_pylist()] == [1, 7]
    src.sql("DROP TABLE s.ids")
    src.sql("CREATE STREAMING TABLE s.ids AS SELECT id FROM STREAM(c.s.src)")
    assert src.sql("SELECT id FROM s.ids").to_pylist() == [{"id": 1}]
    with pytest.raises(StreamingError, match="main.s.ids now has id"):
        other_stream()
