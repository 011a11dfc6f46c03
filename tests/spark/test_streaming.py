"""The seed's Structured Streaming pattern on Spark: a Parquet file source, a checkpoint,
``availableNow``; and a batch CTAS-style write."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

import lakeinfer.spark
from tests.spark.conftest import chat_endpoint

SEED = (
    "ai_query('databricks-meta-llama-3-3-70b-instruct', concat('Summarize: ', text), "
    "failOnError => false) AS resp"
)


def _write(path, name, rows):
    path.mkdir(parents=True, exist_ok=True)
    table = pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]})
    pq.write_table(table, path / name)


def test_stream_processes_existing_rows_once_then_new_files(spark, fake_server, tmp_path):
    lakeinfer.spark.register(
        spark,
        home=tmp_path / "home",
        cache=False,
        endpoints={"databricks-meta-llama-3-3-70b-instruct": chat_endpoint(fake_server)},
        signatures={"ai_query": {"failOnError": False}},  # the seed's selectExpr as written
    )
    source, out, checkpoint = tmp_path / "in", tmp_path / "out", tmp_path / "chk"
    _write(source, "a.parquet", [(1, "one"), (2, "two")])

    def run() -> None:
        src = spark.readStream.schema("id BIGINT, text STRING").parquet(str(source))
        query = (
            src.selectExpr("*", SEED)
            .writeStream.format("parquet")
            .option("checkpointLocation", str(checkpoint))
            .trigger(availableNow=True)
            .start(str(out))
        )
        assert query.awaitTermination(120)

    run()
    assert fake_server.stats()["chat"] == 2
    run()  # nothing new: no call
    assert fake_server.stats()["chat"] == 2
    _write(source, "b.parquet", [(3, "three")])
    run()
    assert fake_server.stats()["chat"] == 3
    rows = sorted(spark.read.parquet(str(out)).collect())
    assert [(r.id, r.resp.result) for r in rows] == [
        (1, "echo: Summarize: one"),
        (2, "echo: Summarize: two"),
        (3, "echo: Summarize: three"),
    ]


def test_memory_sink_and_batch_ctas_write(spark, fake_server, tmp_path):
    ai = lakeinfer.spark.register(
        spark, home=tmp_path / "home", endpoints={"chat": chat_endpoint(fake_server)}
    )
    source = tmp_path / "in"
    _write(source, "a.parquet", [(1, "x"), (2, "y"), (3, "x")])
    src = spark.readStream.schema("id BIGINT, text STRING").parquet(str(source))
    query = (
        src.select("id", lakeinfer.spark.expr("ai_query('chat', text, failOnError => false)"))
        .writeStream.format("memory")
        .queryName("answers")
        .option("checkpointLocation", str(tmp_path / "chk"))
        .trigger(availableNow=True)
        .start()
    )
    assert query.awaitTermination(120)
    assert spark.table("answers").count() == 3
    assert fake_server.stats()["chat"] == 2  # 'x' twice in one file: one call

    spark.read.parquet(str(source)).createOrReplaceTempView("src")
    target = tmp_path / "summaries"
    ai.sql(
        f"CREATE TABLE summaries USING parquet LOCATION '{target}' AS "
        f"SELECT id, ai_query('chat', text) AS summary FROM src"
    )
    written = sorted(spark.read.parquet(str(target)).collect())
    assert [(r.id, r.summary) for r in written] == [(1, "echo: x"), (2, "echo: y"), (3, "echo: x")]
    assert fake_server.stats()["chat"] == 2  # answered from the response cache
    spark.sql("DROP TABLE summaries")
