"""UPDATE, DELETE, MERGE INTO (with AI results), time travel, history, views, table options."""

from __future__ import annotations

import json
import threading
import time

import pytest
from deltalake import DeltaTable

from lakeinfer.errors import AnalysisError, ConcurrentWriteError, SqlError


def _rows(session, sql):
    return session.sql(sql).to_pylist()


@pytest.fixture
def reviews(session):
    session.sql(
        "CREATE TABLE reviews AS SELECT * FROM VALUES "
        "(1, 'great phone'), (2, 'bad battery'), (3, 'ok screen'), (4, NULL) AS t(id, text)"
    )
    return session


def test_update_with_ai_calls_only_matching_rows(reviews, fake_server):
    reviews.sql("ALTER TABLE reviews SET TBLPROPERTIES ('pipelines.channel' = 'preview')")
    reviews.sql("CREATE TABLE out AS SELECT id, text, CAST(NULL AS STRING) AS summary FROM reviews")
    result = _rows(
        reviews, "UPDATE out SET summary = ai_query('chat', 'S: ' || text) WHERE id <= 2"
    )
    assert result == [{"num_affected_rows": 2}]
    assert fake_server.stats()["chat"] == 2
    assert _rows(reviews, "SELECT id, summary FROM out ORDER BY id") == [
        {"id": 1, "summary": "echo: S: great phone"},
        {"id": 2, "summary": "echo: S: bad battery"},
        {"id": 3, "summary": None},
        {"id": 4, "summary": None},
    ]
    history = _rows(reviews, "DESCRIBE HISTORY out")
    assert [h["operation"] for h in history] == ["UPDATE", "CREATE TABLE AS SELECT"]


def test_update_names_unknown_column_and_changes_nothing(reviews):
    with pytest.raises(AnalysisError, match="column 'txt' does not exist.*did you mean 'text'"):
        reviews.sql("UPDATE reviews SET txt = 'x'")
    assert _rows(reviews, "SELECT count(*) AS n FROM reviews VERSION AS OF 0") == [{"n": 4}]
    assert len(_rows(reviews, "DESCRIBE HISTORY reviews")) == 1


def test_delete_counts_rows_and_null_conditions_keep_rows(reviews):
    assert _rows(reviews, "DELETE FROM reviews WHERE text LIKE '%bad%'") == [
        {"num_affected_rows": 1}
    ]
    # text IS NULL for id 4: the condition is NULL, so the row stays (as in Databricks)
    assert _rows(reviews, "SELECT id FROM reviews ORDER BY id") == [
        {"id": 1},
        {"id": 3},
        {"id": 4},
    ]
    assert _rows(reviews, "DELETE FROM reviews WHERE id > 100") == [{"num_affected_rows": 0}]
    assert len(_rows(reviews, "DESCRIBE HISTORY reviews")) == 2  # no commit for no change


def test_merge_ai_results_into_delta_table(reviews, fake_server):
    reviews.sql("CREATE TABLE summaries (id INT, summary STRING, stale BOOLEAN)")
    reviews.sql("INSERT INTO summaries VALUES (1, 'old', false), (9, 'gone', false)")
    merge = """
        MERGE INTO summaries AS t
        USING (SELECT id, ai_query('chat', 'Summarize: ' || text) AS summary
               FROM reviews WHERE text IS NOT NULL) AS s
        ON t.id = s.id
        WHEN MATCHED THEN UPDATE SET summary = s.summary
        WHEN NOT MATCHED THEN INSERT (id, summary, stale) VALUES (s.id, s.summary, false)
        WHEN NOT MATCHED BY SOURCE THEN UPDATE SET stale = true
    """
    assert _rows(reviews, merge) == [
        {
            "num_affected_rows": 4,
            "num_updated_rows": 2,
            "num_deleted_rows": 0,
            "num_inserted_rows": 2,
        }
    ]
    assert fake_server.stats()["chat"] == 3
    assert _rows(reviews, "SELECT * FROM summaries ORDER BY id") == [
        {"id": 1, "summary": "echo: Summarize: great phone", "stale": False},
        {"id": 2, "summary": "echo: Summarize: bad battery", "stale": False},
        {"id": 3, "summary": "echo: Summarize: ok screen", "stale": False},
        {"id": 9, "summary": "gone", "stale": True},
    ]
    # the same merge again: answers come from the cache, rows are only updated in place
    fake_server.reset()
    reviews.sql(merge)
    assert fake_server.stats()["chat"] == 0
    assert _rows(reviews, "SELECT count(*) AS n FROM summaries") == [{"n": 4}]


def test_merge_star_clauses_conditions_and_delete(reviews):
    reviews.sql("CREATE TABLE target AS SELECT * FROM reviews WHERE id IN (1, 2)")
    reviews.sql(
        "CREATE TABLE changes AS SELECT * FROM VALUES (1, 'GREAT'), (2, 'drop me'), (5, 'new') "
        "AS t(id, text)"
    )
    counts = _rows(
        reviews,
        "MERGE INTO target USING changes ON target.id = changes.id "
        "WHEN MATCHED AND changes.text = 'drop me' THEN DELETE "
        "WHEN MATCHED THEN UPDATE SET * "
        "WHEN NOT MATCHED THEN INSERT *",
    )[0]
    assert (
        counts["num_updated_rows"],
        counts["num_deleted_rows"],
        counts["num_inserted_rows"],
    ) == (
        1,
        1,
        1,
    )
    assert _rows(reviews, "SELECT * FROM target ORDER BY id") == [
        {"id": 1, "text": "GREAT"},
        {"id": 5, "text": "new"},
    ]


def test_merge_refuses_several_source_rows_for_one_target_row(reviews):
    reviews.sql("CREATE TABLE dup AS SELECT * FROM VALUES (1, 'a'), (1, 'b') AS t(id, text)")
    with pytest.raises(SqlError, match="several source rows matched the same target row"):
        reviews.sql(
            "MERGE INTO reviews r USING dup d ON r.id = d.id WHEN MATCHED THEN UPDATE SET *"
        )
    assert len(_rows(reviews, "DESCRIBE HISTORY reviews")) == 1


def test_merge_insert_star_names_missing_source_column(reviews):
    reviews.sql("CREATE TABLE narrow AS SELECT 7 AS id")
    with pytest.raises(AnalysisError, match="no column 'text'"):
        reviews.sql(
            "MERGE INTO reviews r USING narrow n ON r.id = n.id WHEN NOT MATCHED THEN INSERT *"
        )


def test_time_travel_after_a_failed_write(reviews, fake_server):
    v0 = _rows(reviews, "SELECT * FROM reviews ORDER BY id")
    reviews.sql("INSERT INTO reviews VALUES (5, 'late')")
    with pytest.raises(Exception, match="fail"):
        reviews.sql(
            "INSERT OVERWRITE reviews SELECT id, "
            "ai_query('chat', '[[status:400]] ' || text, failOnError => true) FROM reviews"
        )
    assert _rows(reviews, "SELECT count(*) AS n FROM reviews") == [{"n": 5}]
    assert _rows(reviews, "SELECT * FROM reviews VERSION AS OF 0 ORDER BY id") == v0
    history = _rows(reviews, "DESCRIBE HISTORY reviews")
    assert [h["version"] for h in history] == [1, 0]
    stamp = history[1]["timestamp"].isoformat()
    assert _rows(reviews, f"SELECT count(*) AS n FROM reviews TIMESTAMP AS OF '{stamp}'") == [
        {"n": 4}
    ]
    with pytest.raises(SqlError, match="versions 0 to 1"):
        _rows(reviews, "SELECT * FROM reviews VERSION AS OF 7")
    with pytest.raises(SqlError, match="first commit is at"):
        _rows(reviews, "SELECT * FROM reviews TIMESTAMP AS OF '2001-01-01'")
    # restore the old version with INSERT OVERWRITE from time travel
    reviews.sql("INSERT OVERWRITE TABLE reviews SELECT * FROM reviews VERSION AS OF 0")
    assert _rows(reviews, "SELECT count(*) AS n FROM reviews") == [{"n": 4}]
    assert _rows(reviews, "DESCRIBE HISTORY reviews")[0]["operation"] == "INSERT OVERWRITE"


def test_views_stored_temporary_and_dropped(reviews, fake_server):
    reviews.sql("CREATE VIEW good AS SELECT id, text FROM reviews WHERE text LIKE '%great%'")
    reviews.sql("CREATE SCHEMA other; USE other")
    # the view resolves `reviews` in the namespace it was created in
    assert _rows(reviews, "SELECT id FROM main.default.good") == [{"id": 1}]
    reviews.sql("USE main.default")
    assert {"database": "default", "tableName": "good", "isTemporary": False} in _rows(
        reviews, "SHOW TABLES"
    )
    reviews.sql(
        "CREATE TEMPORARY VIEW answered AS SELECT id, ai_query('chat', text) AS answer FROM good"
    )
    assert _rows(reviews, "SELECT * FROM answered") == [{"id": 1, "answer": "echo: great phone"}]
    described = _rows(reviews, "DESCRIBE answered")
    assert [(r["col_name"], r["data_type"]) for r in described] == [
        ("id", "INT"),
        ("answer", "STRING"),
    ]
    with pytest.raises(SqlError, match="already exists"):
        reviews.sql("CREATE VIEW good AS SELECT 1 AS one")
    reviews.sql("CREATE OR REPLACE VIEW good AS SELECT 1 AS one")
    assert _rows(reviews, "SELECT * FROM good") == [{"one": 1}]
    with pytest.raises(SqlError, match="is a view, not a table"):
        reviews.sql("DROP TABLE good")
    reviews.sql("DROP VIEW good; DROP VIEW answered; DROP VIEW IF EXISTS good")
    with pytest.raises(SqlError, match="not found"):
        _rows(reviews, "SELECT * FROM good")
    with pytest.raises(SqlError, match="not found"):
        reviews.sql("CREATE VIEW broken AS SELECT * FROM no_such_table")


def test_comment_properties_and_partitioning(session, home):
    session.sql(
        "CREATE TABLE docs (id INT, lang STRING, body STRING) USING DELTA PARTITIONED BY (lang) "
        "COMMENT 'documents to summarise' "
        "TBLPROPERTIES ('pipelines.channel' = 'preview', 'quality' = 'silver')"
    )
    session.sql("INSERT INTO docs VALUES (1, 'en', 'a'), (2, 'ja', 'b')")
    table = DeltaTable(str(home / "main" / "default" / "docs"))
    assert table.metadata().partition_columns == ["lang"]
    assert table.metadata().description == "documents to summarise"
    assert (home / "main" / "default" / "docs" / "lang=ja").is_dir()
    assert _rows(session, "SHOW TBLPROPERTIES docs") == [
        {"key": "pipelines.channel", "value": "preview"},
        {"key": "quality", "value": "silver"},
    ]
    session.sql("COMMENT ON TABLE docs IS 'all documents'")
    session.sql("ALTER TABLE docs SET TBLPROPERTIES ('quality' = 'gold')")
    extended = {
        r["col_name"]: r["data_type"] for r in _rows(session, "DESCRIBE TABLE EXTENDED docs")
    }
    assert extended["Comment"] == "all documents"
    assert extended["Partition Columns"] == "lang"
    assert "quality=gold" in extended["Table Properties"]
    session.sql("CREATE TABLE by_lang PARTITIONED BY (lang) AS SELECT * FROM docs")
    assert DeltaTable(str(home / "main" / "default" / "by_lang")).metadata().partition_columns == [
        "lang"
    ]
    with pytest.raises(AnalysisError, match="cannot partition .* by 'language'"):
        session.sql("CREATE TABLE bad PARTITIONED BY (language) AS SELECT * FROM docs")


def test_history_lists_operations_with_metrics(session):
    session.sql("CREATE TABLE h (id INT)")
    session.sql("INSERT INTO h VALUES (1), (2)")
    session.sql("DELETE FROM h WHERE id = 1")
    history = _rows(session, "DESCRIBE HISTORY h")
    assert [h["operation"] for h in history] == ["DELETE", "INSERT", "CREATE TABLE"]
    assert json.loads(history[1]["operationMetrics"])["num_added_rows"] == 2


def test_writer_that_read_an_old_version_loses_cleanly(session, fake_server, monkeypatch):
    """An UPDATE racing an INSERT: the UPDATE fails with a conflict, nothing is lost."""
    session.sql("CREATE TABLE race (id INT, note STRING)")
    session.sql("INSERT INTO race VALUES (1, NULL)")
    runner = session._executor.runner
    original = runner.run
    started = threading.Event()

    def slow_run(*args, **kwargs):
        result = original(*args, **kwargs)
        started.set()
        time.sleep(0.5)  # another writer commits meanwhile
        return result

    monkeypatch.setattr(runner, "run", slow_run)
    from lakeinfer.catalog.delta_catalog import TableName

    other = threading.Thread(
        target=lambda: (
            started.wait(5),
            session.catalog.write(
                TableName("main", "default", "race"),
                __import__("pyarrow").table({"id": [2], "note": ["new"]}),
                "append",
            ),
        )
    )
    other.start()
    with pytest.raises(ConcurrentWriteError, match="changed while this statement ran"):
        session.sql("UPDATE race SET note = 'seen'")
    other.join()
    monkeypatch.setattr(runner, "run", original)
    assert _rows(session, "SELECT * FROM race ORDER BY id") == [
        {"id": 1, "note": None},
        {"id": 2, "note": "new"},
    ]


def test_concurrent_appends_keep_every_row(session):
    session.sql("CREATE TABLE log (writer INT, n INT)")
    import pyarrow as pa

    from lakeinfer.catalog.delta_catalog import TableName

    name = TableName("main", "default", "log")

    def writer(w: int) -> None:
        for n in range(5):
            session.catalog.write(name, pa.table({"writer": [w], "n": [n]}), "append")

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _rows(
        session, "SELECT count(*) AS n, count(DISTINCT writer * 10 + n) AS d FROM log"
    ) == [{"n": 15, "d": 15}]
