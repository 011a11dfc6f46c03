"""Streams over Delta tables through the Python API: incremental batches, restarts, triggers,
limits, source changes and failures. Model calls are counted at the fake server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lakeinfer import functions as F
from lakeinfer.errors import EndpointError, UnknownTableError
from lakeinfer.pipelines.checkpoint import Checkpoint
from lakeinfer.pipelines.errors import StreamingError

SUMMARY = "ai_query('chat', 'Summarize: ' || text)"


def _insert(session, ids: range, table: str = "docs") -> None:
    values = ", ".join(f"({i}, 'doc {i}')" for i in ids)
    session.sql(f"INSERT INTO {table} VALUES {values}")


def _start(session, checkpoint: Path, *, options: dict | None = None, **trigger):
    reader = session.readStream
    for key, value in (options or {}).items():
        reader = reader.option(key, value)
    return (
        reader.table("docs")
        .select("id", F.expr(SUMMARY).alias("summary"))
        .writeStream.option("checkpointLocation", str(checkpoint))
        .outputMode("append")
        .trigger(**(trigger or {"availableNow": True}))
        .toTable("docs_summary")
    )


def _ids(session, table: str = "docs_summary") -> list[int]:
    return [r["id"] for r in session.sql(f"SELECT id FROM {table} ORDER BY id").to_pylist()]


@pytest.fixture
def docs(session):
    session.sql("CREATE TABLE docs (id INT, text STRING)")
    return session


def test_three_appends_are_processed_once_each(docs, fake_server, tmp_path):
    checkpoint = tmp_path / "ckpt"
    _insert(docs, range(1, 4))
    query = _start(docs, checkpoint)
    assert query.awaitTermination() is None
    assert _ids(docs) == [1, 2, 3]
    assert query.lastProgress["numInputRows"] == 3
    for added, expected in ((range(4, 6), 5), (range(6, 10), 9)):
        _insert(docs, added)
        query = _start(docs, checkpoint)
        query.awaitTermination()
        assert [p["numInputRows"] for p in query.recentProgress] == [len(added)]
        assert _ids(docs) == list(range(1, expected + 1))
    assert fake_server.stats()["chat"] == 9
    rows = docs.sql("SELECT summary FROM docs_summary WHERE id = 7").to_pylist()
    assert rows == [{"summary": "echo: Summarize: doc 7"}]
    assert len(Checkpoint(checkpoint).commits()) == 3


def test_a_running_stream_picks_up_new_commits_and_resumes_after_stop(docs, fake_server, tmp_path):
    checkpoint = tmp_path / "ckpt"
    _insert(docs, range(1, 3))
    query = _start(docs, checkpoint, processingTime="50 ms")
    query.processAllAvailable()
    _insert(docs, range(3, 5))
    query.processAllAvailable()
    assert query.isActive and query.status["isActive"]
    query.stop()
    assert not query.isActive and query.status["message"] == "Stopped"
    assert _ids(docs) == [1, 2, 3, 4]
    _insert(docs, range(5, 6))
    again = _start(docs, checkpoint, processingTime="50 ms")
    again.processAllAvailable()
    again.stop()
    assert _ids(docs) == [1, 2, 3, 4, 5]
    assert fake_server.stats()["chat"] == 5
    assert [p["numInputRows"] for p in again.recentProgress] == [1]


def test_first_batch_is_the_existing_rows_of_several_commits(docs, tmp_path):
    for start in (1, 3, 5):
        _insert(docs, range(start, start + 2))
    query = _start(docs, tmp_path / "ckpt")
    query.awaitTermination()
    (progress,) = query.recentProgress
    assert progress["numInputRows"] == 6 and progress["batchId"] == 0
    assert progress["lagVersions"] == 0 and progress["latestVersion"] == 3


def test_max_files_per_trigger_and_once(docs, tmp_path):
    for start in (1, 3, 5):
        _insert(docs, range(start, start + 2))
    once = _start(docs, tmp_path / "ckpt", options={"maxFilesPerTrigger": 1}, once=True)
    once.awaitTermination()
    assert _ids(docs) == [1, 2]
    # the snapshot (version 3) still has two files of two rows to read
    assert (once.lastProgress["lagVersions"], once.lastProgress["lagRows"]) == (1, 4)
    rest = _start(docs, tmp_path / "ckpt", options={"maxFilesPerTrigger": 1})
    rest.awaitTermination()
    assert [p["numInputRows"] for p in rest.recentProgress] == [2, 2]
    assert _ids(docs) == list(range(1, 7))


def test_max_bytes_per_trigger_splits_into_several_batches(docs, tmp_path):
    _insert(docs, range(1, 41))  # one file
    size = sum(f.stat().st_size for f in docs.catalog.table_path(_name(docs)).glob("*.parquet"))
    query = _start(docs, tmp_path / "ckpt", options={"maxBytesPerTrigger": str(size // 4)})
    query.awaitTermination()
    sizes = [p["numInputRows"] for p in query.recentProgress]
    assert len(sizes) >= 4 and sum(sizes) == 40 and max(sizes) <= 10
    assert _ids(docs) == list(range(1, 41))


def test_max_rows_per_trigger(docs, tmp_path):
    _insert(docs, range(1, 11))
    query = _start(docs, tmp_path / "ckpt", options={"maxRowsPerTrigger": 4})
    query.awaitTermination()
    assert [p["numInputRows"] for p in query.recentProgress] == [4, 4, 2]
    assert [p["batchId"] for p in query.recentProgress] == [0, 1, 2]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("maxBytesPerTrigger", "lots", "maxBytesPerTrigger must be a size"),
        ("maxFilesPerTrigger", "0", "maxFilesPerTrigger must be a positive integer"),
        ("maxFilePerTrigger", "1", "unknown readStream option 'maxFilePerTrigger'"),
    ],
)
def test_bad_reader_options_are_named(docs, key, value, message):
    with pytest.raises(StreamingError, match=message):
        docs.readStream.option(key, value).table("docs")


def test_triggers_and_writer_options_are_checked(docs, tmp_path):
    writer = docs.readStream.table("docs").select("id").writeStream
    with pytest.raises(StreamingError, match="exactly one of"):
        writer.trigger(availableNow=True, processingTime="1 second")
    with pytest.raises(StreamingError, match="processingTime must be like"):
        writer.trigger(processingTime="soon")
    with pytest.raises(StreamingError, match="output mode 'complete'"):
        writer.outputMode("complete")


def test_without_checkpoint_location_the_checkpoint_is_kept_in_the_lakehouse(docs):
    _insert(docs, range(1, 3))
    writer = docs.readStream.table("docs").select("id").writeStream
    query = writer.trigger(availableNow=True).toTable("out")
    query.awaitTermination()
    folder = docs.catalog.home / "_checkpoints" / "main" / "default" / "out" / "main.default.docs"
    assert query.spec.checkpoint == str(folder)
    assert len(Checkpoint(folder).commits()) == 1
    named = docs.readStream.table("docs").select("id").writeStream.queryName("copy")
    named.trigger(availableNow=True).toTable("out").awaitTermination()
    assert (folder.parent / "copy" / "metadata").is_file()
    assert _ids(docs, "out") == [1, 1, 2, 2]  # a second stream (named) into the same table
    assert "_checkpoints" not in str(docs.sql("SHOW CATALOGS").to_pylist())
    with pytest.raises(StreamingError, match="queryName names the stream's checkpoint"):
        writer.queryName("../up").toTable("out")


def test_unknown_source_table_is_named(session):
    with pytest.raises(UnknownTableError, match="main.default.doc"):
        session.readStream.table("doc")


def test_source_delete_fails_unless_change_commits_are_skipped(docs, fake_server, tmp_path):
    _insert(docs, range(1, 4))
    _start(docs, tmp_path / "ckpt").awaitTermination()
    docs.sql("INSERT OVERWRITE docs SELECT * FROM docs WHERE id > 1")
    _insert(docs, range(4, 6))
    failing = _start(docs, tmp_path / "ckpt")
    with pytest.raises(StreamingError, match=r"version 2 \(WRITE OVERWRITE\) .* skipChangeCommits"):
        failing.awaitTermination()
    assert _ids(docs) == [1, 2, 3]  # nothing written
    skipping = _start(docs, tmp_path / "ckpt", options={"skipChangeCommits": True})
    skipping.awaitTermination()
    assert _ids(docs) == [1, 2, 3, 4, 5]
    assert fake_server.stats()["chat"] == 5


def test_source_schema_change_is_a_clear_error(docs, tmp_path):
    _insert(docs, range(1, 3))
    _start(docs, tmp_path / "ckpt").awaitTermination()
    docs.sql("CREATE OR REPLACE TABLE docs (id INT, text STRING, lang STRING)")
    query = _start(docs, tmp_path / "ckpt")
    with pytest.raises(StreamingError, match="schema of source table main.default.docs changed"):
        query.awaitTermination()


def test_a_failed_batch_writes_nothing_and_is_retried(docs, fake_server, tmp_path):
    docs.sql("INSERT INTO docs VALUES (1, 'fine'), (2, '[[status:500]]')")
    query = _start(docs, tmp_path / "ckpt")
    with pytest.raises(EndpointError, match="endpoint 'chat' failed"):
        query.awaitTermination()
    assert _ids(docs) == []  # the table exists (created on start) but holds no row
    assert Checkpoint(tmp_path / "ckpt").commits() == []
    again = _start(docs, tmp_path / "ckpt")
    with pytest.raises(EndpointError):  # batch 0 is re-run over the same rows
        again.awaitTermination()
    assert _ids(docs) == []
    assert fake_server.stats()["answered"] == {"Summarize: fine": 1}  # paid once, then cached


def test_fail_on_error_false_keeps_failed_rows_as_values(docs, tmp_path):
    docs.sql("INSERT INTO docs VALUES (1, 'fine'), (2, '[[status:400]]')")
    (
        docs.readStream.table("docs")
        .select("id", F.expr("ai_query('chat', text, failOnError => false)").alias("r"))
        .writeStream.option("checkpointLocation", str(tmp_path / "ckpt"))
        .trigger(availableNow=True)
        .toTable("answers")
        .awaitTermination()
    )
    rows = docs.sql(
        "SELECT id, r.result AS result, r.errorMessage IS NOT NULL AS failed "
        "FROM answers ORDER BY id"
    ).to_pylist()
    assert rows == [
        {"id": 1, "result": "echo: fine", "failed": False},
        {"id": 2, "result": None, "failed": True},
    ]


def test_where_runs_before_the_model_and_batches_are_in_query_history(docs, fake_server, tmp_path):
    _insert(docs, range(1, 7))
    (
        docs.read_stream.table("main.default.docs")
        .where("id % 2 = 0")
        .select(F.col("id"), F.expr(SUMMARY).alias("summary"), F.lit("v1").alias("tag"))
        .write_stream.option("checkpointLocation", str(tmp_path / "ckpt"))
        .trigger(available_now=True)
        .to_table("evens")
        .await_termination()
    )
    assert docs.sql("SELECT id, tag FROM evens ORDER BY id").to_pylist() == [
        {"id": i, "tag": "v1"} for i in (2, 4, 6)
    ]
    assert fake_server.stats()["chat"] == 3
    history = docs.sql(
        "SELECT calls, statement FROM system.ai.query_history WHERE statement LIKE '-- stream%'"
    ).to_pylist()
    assert [h["calls"] for h in history] == [3]


def test_checkpoint_belongs_to_one_sink(docs, tmp_path):
    _insert(docs, range(1, 2))
    _start(docs, tmp_path / "ckpt").awaitTermination()
    query = (
        docs.readStream.table("docs")
        .select("id")
        .writeStream.option("checkpointLocation", str(tmp_path / "ckpt"))
        .trigger(availableNow=True)
        .toTable("elsewhere")
    )
    with pytest.raises(StreamingError, match="belongs to a stream with sink main.default"):
        query.awaitTermination()


def test_await_termination_with_timeout_and_lag_while_waiting(docs, tmp_path):
    _insert(docs, range(1, 3))
    query = _start(docs, tmp_path / "ckpt", processingTime="10 seconds")
    deadline = time.monotonic() + 20
    while query.lastProgress is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert query.awaitTermination(timeout=0.05) is False
    query.stop()
    assert query.awaitTermination(timeout=1) is True
    assert query.lastProgress["lagVersions"] == 0


def _name(session):
    from lakeinfer.catalog.delta_catalog import DeltaCatalog

    return DeltaCatalog.qualify(["docs"], session.namespace)


def test_one_stream_per_checkpoint_at_a_time(docs, tmp_path):
    _insert(docs, range(1, 3))
    running = _start(docs, tmp_path / "ckpt", processingTime="50 ms")
    running.processAllAvailable()
    second = _start(docs, tmp_path / "ckpt")
    with pytest.raises(StreamingError, match="another stream is running on checkpoint"):
        second.awaitTermination()
    running.stop()
    third = _start(docs, tmp_path / "ckpt")
    third.awaitTermination()  # free again
    assert _ids(docs) == [1, 2]
