"""lakeinfer statements on Spark (``lakeinfer.connect(spark=...)``): the same names, the same
tables, one commit per write, usage summed from the executors."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

import lakeinfer
from lakeinfer.errors import AnalysisError, TableExistsError
from tests.conftest import configure


@pytest.fixture
def spark_session(spark, home, fake_server):
    configure(home, fake_server, chat={"max_retries": 0})
    with lakeinfer.connect(home, progress=False) as embedded:
        embedded.sql("CREATE TABLE reviews (id BIGINT, text STRING, stars INT)")
        embedded.sql("INSERT INTO reviews VALUES (1, 'good', 5), (2, 'bad', 1), (3, 'good', 3)")
    with lakeinfer.connect(home, progress=False, spark=spark) as session:
        yield session


def test_ctas_with_ai_query_is_one_commit_the_embedded_engine_reads(
    spark_session, home, fake_server
):
    result = spark_session.sql(
        "CREATE TABLE main.default.summaries AS "
        "SELECT id, ai_query('chat', 'Summarize: ' || text) AS summary FROM main.default.reviews"
    )
    assert result.to_pylist() == [{"num_affected_rows": 3, "num_inserted_rows": 3}]
    stats = spark_session.last_stats
    # counted on the executors: every call the server saw ('good' twice costs one call, or
    # two when its rows land on tasks running at once), and the rest answered by the cache
    assert stats is not None and stats.ai.calls == fake_server.stats()["chat"] in (2, 3)
    assert stats.ai.requests + stats.cache_hits in (2, 3) and stats.ai.errors == 0
    with lakeinfer.connect(home, progress=False) as embedded:
        rows = embedded.sql("SELECT * FROM summaries ORDER BY id").to_pylist()
        history = embedded.sql("DESCRIBE HISTORY summaries").to_pylist()
        recorded = embedded.sql("SELECT statement, calls FROM system.ai.query_history").to_pylist()
    assert rows == [
        {"id": 1, "summary": "echo: Summarize: good"},
        {"id": 2, "summary": "echo: Summarize: bad"},
        {"id": 3, "summary": "echo: Summarize: good"},
    ]
    assert (
        DeltaTable(str(home / "main/default/summaries"))
        .to_pyarrow_table()
        .sort_by("id")
        .to_pylist()
        == rows
    )
    assert len(history) == 1 and "CREATE TABLE AS SELECT" in str(history[0])
    assert recorded[0]["calls"] == stats.ai.calls and "summaries" in recorded[0]["statement"]


def test_insert_replace_queries_and_time_travel(spark_session):
    s = spark_session
    s.sql("CREATE TABLE good AS SELECT id, stars FROM reviews WHERE text = 'good'")
    with pytest.raises(TableExistsError, match="main.default.good already exists"):
        s.sql("CREATE TABLE good AS SELECT id, stars FROM reviews")
    s.sql("INSERT INTO good SELECT id, stars FROM reviews WHERE id = 2")
    assert s.sql("SELECT id FROM good ORDER BY id").to_pylist() == [{"id": i} for i in (1, 2, 3)]
    s.sql("INSERT OVERWRITE good SELECT id, stars FROM reviews WHERE id = 1")
    assert s.sql("SELECT count(*) AS n FROM good").to_pylist() == [{"n": 1}]
    assert s.sql("SELECT count(*) AS n FROM good VERSION AS OF 1").to_pylist() == [{"n": 3}]
    s.sql("CREATE OR REPLACE TABLE good AS SELECT text FROM reviews")
    assert s.sql("SELECT * FROM good ORDER BY text").columns == ["text"]
    # catalog statements still run, on the driver
    s.sql("CREATE SCHEMA IF NOT EXISTS other")
    assert "good" in str(s.sql("SHOW TABLES").to_pylist())
    with pytest.raises(AnalysisError, match="UPDATE is not supported on Spark"):
        s.sql("UPDATE good SET text = 'x'")
    with pytest.raises(AnalysisError, match="INSERT INTO main.default.good|takes 1 columns"):
        s.sql("INSERT INTO good SELECT id, text FROM reviews")


def test_an_ai_statement_reads_and_calls_in_one_stage_on_every_core(spark_session, spark):
    """A one-file table is spread over the cores by the scan itself: the tasks that read the
    rows call the model and write them, with no shuffle stage between reading and calling."""
    context = spark.sparkContext
    context.setJobGroup("one-stage-ctas", "an AI CTAS over a one-file table")
    try:
        spark_session.sql(
            "CREATE TABLE answers AS SELECT id, ai_query('chat', text) AS answer FROM reviews"
        )
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    tracker = context.statusTracker()
    stages = [
        stage
        for job in tracker.getJobIdsForGroup("one-stage-ctas")
        for stage in tracker.getJobInfo(job).stageIds
    ]
    assert len(stages) == 1
    assert tracker.getStageInfo(stages[0]).numTasks == context.defaultParallelism
    rows = spark_session.sql("SELECT id, answer FROM answers ORDER BY id").to_pylist()
    assert [r["id"] for r in rows] == [1, 2, 3]  # every row once
    assert rows[1]["answer"] == "echo: bad"
