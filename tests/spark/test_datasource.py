"""The ``lakeinfer`` data source on ``local[2]``: reads with pruning and time travel, the save
modes, one commit per write, nothing committed by a failed job, the exactly-once sink."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql.functions import arrow_udf

import lakeinfer
import lakeinfer.spark
from lakeinfer.errors import AnalysisError, TableExistsError, UnknownTableError
from lakeinfer.spark import tables
from lakeinfer.spark.datasource import LakeinferDataSource, WrittenFiles
from lakeinfer.spark.files import WritePlan, write_files


@pytest.fixture
def lake(home: Path):
    """``main.default.reviews``: version 0 (create), 1 (ids 1-3), 2 (ids 4-5)."""
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE reviews (id BIGINT, text STRING, stars INT)")
        session.sql("INSERT INTO reviews VALUES (1, 'good', 5), (2, 'bad', 1), (3, 'ok', 3)")
        session.sql("INSERT INTO reviews VALUES (4, 'fine', 4), (5, NULL, 2)")
        yield session


def _read(spark, home, name="main.default.reviews", **options):
    reader = spark.read.format("lakeinfer").option("home", str(home))
    for key, value in options.items():
        reader = reader.option(key, value)
    return reader.load(name)


def _rows(df, key="id"):
    return sorted((r.asDict() for r in df.collect()), key=lambda r: r[key])


def test_read_by_name_with_pruning_and_time_travel(spark, lake, home):
    df = _read(spark, home)
    assert df.columns == ["id", "text", "stars"]
    assert [r["id"] for r in _rows(df)] == [1, 2, 3, 4, 5]
    # one partition per data file (two inserts wrote two files), read on the executors
    assert df.rdd.getNumPartitions() == 2
    # only the columns asked for are read: by option, by a narrower schema
    assert _read(spark, home, columns="stars,id").columns == ["stars", "id"]
    narrow = spark.read.format("lakeinfer").option("home", str(home)).schema("text STRING")
    assert sorted(r.text or "" for r in narrow.load("main.default.reviews").collect()) == [
        "", "bad", "fine", "good", "ok"
    ]  # fmt: skip
    assert [r["id"] for r in _rows(_read(spark, home, versionAsOf=1))] == [1, 2, 3]
    assert _read(spark, home, versionAsOf=0).count() == 0
    first = DeltaTable(str(home / "main/default/reviews")).history()[-2]["timestamp"]
    import datetime as dt

    when = dt.datetime.fromtimestamp(first / 1000, dt.UTC).isoformat()
    assert _read(spark, home, timestampAsOf=when).count() == 3
    same = lakeinfer.spark.table(spark, "reviews", home=home, version=2, columns=["id"])
    assert same.columns == ["id"] and same.count() == 5
    with pytest.raises(Exception, match="versions 0 to 2"):
        _read(spark, home, versionAsOf=9).collect()
    with pytest.raises(Exception, match="main.default.reviewz.*did you mean"):
        _read(spark, home, "reviewz").collect()
    with pytest.raises(Exception, match="column 'nope' does not exist in main.default.reviews"):
        _read(spark, home, columns="id,nope").collect()


def test_split_files_spread_the_rows_over_more_tasks_than_files(spark, lake, home):
    # two files (3 and 2 rows) read by four tasks, each a range of a file's rows
    spread = _read(spark, home, minPartitions="4", splitFiles="true")
    assert spread.rdd.getNumPartitions() == 4
    assert [r["id"] for r in _rows(spread)] == [1, 2, 3, 4, 5]  # every row once
    one = _read(spark, home, minPartitions="4", splitFiles="true").where("id > 3")
    assert sorted(r.id for r in one.collect()) == [4, 5]  # file skipping still applies
    with pytest.raises(Exception, match="splitFiles must be true or false"):
        _read(spark, home, splitFiles="yes").collect()


def test_the_save_modes_each_make_one_commit(spark, lake, home):
    name = "main.default.copy"
    path = home / "main/default/copy"
    source = _read(spark, home).where("id <= 3")

    def save(df, mode, **options):
        writer = df.write.format("lakeinfer").option("home", str(home))
        for key, value in options.items():
            writer = writer.option(key, value)
        writer.mode(mode).save(name)

    save(source, "errorifexists")
    assert DeltaTable(str(path)).version() == 0
    with pytest.raises(TableExistsError, match="main.default.copy already exists"):
        save(source, "errorifexists")
    save(source.where("id = 1"), "ignore")  # exists: nothing happens
    save(_read(spark, home).where("id > 3"), "append")
    table = DeltaTable(str(path))
    assert table.version() == 1
    assert sorted(table.to_pyarrow_table()["id"].to_pylist()) == [1, 2, 3, 4, 5]
    save(source.where("id = 2"), "overwrite")
    # the same rows for lakeinfer sql and for delta-rs alone
    embedded = lake.sql(f"SELECT * FROM {name}").to_arrow()
    assert embedded.to_pylist() == [{"id": 2, "text": "bad", "stars": 1}]
    assert DeltaTable(str(path)).to_pyarrow_table().to_pylist() == embedded.to_pylist()
    history = lake.sql(f"DESCRIBE HISTORY {name}").to_pylist()
    assert [h["version"] for h in history] == [2, 1, 0]
    assert DeltaTable(str(path)).history(1)[0]["lakeinfer.operation"] == "WRITE OVERWRITE"
    # schema checks as on the embedded engine, before any task runs
    with pytest.raises(AnalysisError, match="data has column 'extra'"):
        save(source.withColumn("extra", F.lit(1)), "append")
    with pytest.raises(AnalysisError, match="cannot write column 'id'.*ARRAY<INT> does not fit"):
        save(source.withColumn("id", F.array(F.lit(1))), "append")
    save(source.select("id"), "append")  # a missing column is NULL
    assert lake.sql(f"SELECT count(*) AS n FROM {name} WHERE text IS NULL").to_pylist() == [
        {"n": 3}
    ]
    # a new schema only with overwriteSchema, as with Delta
    save(
        source.select(F.col("id").cast("string").alias("key")), "overwrite", overwriteSchema="true"
    )
    assert lake.sql(f"SELECT * FROM {name} ORDER BY key").to_pylist()[0] == {"key": "1"}


def test_a_failed_job_commits_nothing_and_leaves_no_files(spark, lake, home):
    @arrow_udf("string")
    def boom(ids: pa.Array) -> pa.Array:
        if 4 in ids.to_pylist():
            raise ValueError("row 4 cannot be written")
        return ids.cast(pa.string())

    path = home / "main/default/reviews"
    before = sorted(p.name for p in path.glob("*.parquet"))
    failing = _read(spark, home).withColumn("text", boom("id")).repartition(2)
    with pytest.raises(Exception, match="row 4 cannot be written"):
        failing.write.format("lakeinfer").option("home", str(home)).mode("append").save(
            "main.default.reviews"
        )
    assert DeltaTable(str(path)).version() == 2
    assert sorted(p.name for p in path.glob("*.parquet")) == before
    # a new table is not created at all, and leaves no staging directory behind
    with pytest.raises(Exception, match="row 4 cannot be written"):
        failing.write.format("lakeinfer").option("home", str(home)).save("main.default.fresh")
    assert not (home / "main/default/fresh").exists()
    assert not list((home / "main/default").glob(".*.writing*"))


def test_partitioned_tables_round_trip(spark, lake, home):
    df = _read(spark, home)
    df.write.format("lakeinfer").option("home", str(home)).option("partitionBy", "stars").save(
        "main.default.by_stars"
    )
    table = DeltaTable(str(home / "main/default/by_stars"))
    assert table.metadata().partition_columns == ["stars"]
    assert sorted(table.to_pyarrow_table().to_pylist(), key=lambda r: r["id"]) == _rows(df)
    back = _read(spark, home, "main.default.by_stars", columns="stars,id")
    assert sorted(tuple(r) for r in back.collect()) == sorted((r.stars, r.id) for r in df.collect())


def test_filters_skip_files_by_partition_values_and_statistics(spark, lake, home):
    # two files: ids 1-3 and ids 4-5 (min/max statistics of a BIGINT are exact)
    later = _read(spark, home).where("id > 3")
    assert later.rdd.getNumPartitions() == 1 and [r["id"] for r in _rows(later)] == [4, 5]
    assert _read(spark, home).where("id = 2").rdd.getNumPartitions() == 1
    assert _read(spark, home).where("id IN (1, 5)").rdd.getNumPartitions() == 2
    none = _read(spark, home).where("id > 9")
    assert none.count() == 0 and none.rdd.getNumPartitions() == 1  # no file: one empty task
    # a string's statistics may be truncated: never used, both files read, rows still right
    text = _read(spark, home).where("text = 'fine'")
    assert text.rdd.getNumPartitions() == 2 and [r["id"] for r in _rows(text)] == [4]
    # a partition value is exact for any type
    _read(spark, home).write.format("lakeinfer").option("home", str(home)).option(
        "partitionBy", "text"
    ).save("main.default.by_text")
    by_text = _read(spark, home, "main.default.by_text", minPartitions="5")
    assert by_text.rdd.getNumPartitions() == 5  # one file per text (NULL included)
    one = by_text.where("text = 'ok'")
    assert one.rdd.getNumPartitions() == 1 and [r["id"] for r in _rows(one)] == [3]
    assert [r["id"] for r in _rows(by_text.where("text IS NULL"))] == [5]


def test_a_replayed_stream_batch_is_committed_once(lake, home):
    source = LakeinferDataSource({"path": "main.default.sink", "home": str(home), "txnAppId": "q"})
    schema = pa.schema([("id", pa.int64())])
    from pyspark.sql.types import LongType, StructField, StructType

    spark_schema = StructType([StructField("id", LongType())])
    for _ in range(2):  # the same batch 0, e.g. re-run after a crash before the checkpoint
        writer = source.streamWriter(spark_schema, overwrite=False)
        message = writer.write(iter([pa.RecordBatch.from_pydict({"id": [1, 2]}, schema=schema)]))
        writer.commit([message], 0)
        assert isinstance(message, WrittenFiles)
    table = DeltaTable(str(home / "main/default/sink"))
    assert table.to_pyarrow_table()["id"].to_pylist() == [1, 2]
    assert table.transaction_version("q") == 0
    # the replay's files were removed, not left for VACUUM
    assert len(list((home / "main/default/sink").glob("*.parquet"))) == 1


def test_commit_of_new_table_is_atomic(lake, home):
    """A table created under its staging name appears only with its first commit."""
    table = tables.resolve("main.default.staged", str(home))
    target = tables.plan_write(table, pa.schema([("x", pa.int64())]), overwrite=False)
    files = write_files(
        WritePlan(target.directory, target.schema), [pa.record_batch({"x": [1]})], 0
    )
    assert not table.exists() and Path(target.directory).name.endswith(".writing")
    tables.commit(target, files)
    assert table.exists() and not Path(target.directory).exists()
    with pytest.raises(UnknownTableError):
        tables.snapshot(tables.resolve("main.default.stagd", str(home)))


def test_streaming_read_and_sink_deliver_each_row_once(spark, lake, home, tmp_path):
    checkpoint = str(tmp_path / "chk")

    def run() -> None:
        (
            spark.readStream.format("lakeinfer").option("home", str(home))
            .load("main.default.reviews")
            .writeStream.format("lakeinfer").option("home", str(home))
            .option("checkpointLocation", checkpoint)
            .trigger(availableNow=True)
            .start("main.default.mirror")
            .awaitTermination()
        )  # fmt: skip

    run()
    lake.sql("INSERT INTO reviews VALUES (6, 'new', 5)")
    run()
    run()  # nothing new: nothing written
    mirror = DeltaTable(str(home / "main/default/mirror"))
    assert sorted(mirror.to_pyarrow_table()["id"].to_pylist()) == [1, 2, 3, 4, 5, 6]
    metadata = json.loads((tmp_path / "chk" / "metadata").read_text())
    assert mirror.transaction_version(metadata["id"]) == 1
    lake.sql("DELETE FROM reviews WHERE id = 6")
    with pytest.raises(Exception, match="deletes or rewrites rows.*skipChangeCommits"):
        run()
