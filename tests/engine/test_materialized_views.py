"""Materialized views: computed once into a Delta table, refreshed incrementally for appends
(calls counted at the fake server: only new rows pay), fully from the cache otherwise."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from deltalake import DeltaTable

import lakeinfer
from lakeinfer.catalog.delta_catalog import REFRESH_KEY, DeltaCatalog
from lakeinfer.errors import AnalysisError, SqlError, SqlSyntaxError, TableExistsError
from lakeinfer.pipelines.job_runner import JobRunner
from lakeinfer.pipelines.materialized import scheduled_jobs
from lakeinfer.pipelines.scheduler import JobScheduler
from tests.conftest import configure

CREATE = (
    "CREATE MATERIALIZED VIEW answers COMMENT 'model answers' TBLPROPERTIES ('team' = 'ml') "
    "AS SELECT id, ai_query('my-llm', CONCAT('Classify: ', text)) AS label FROM reviews "
    "WHERE id > 0"
)


@pytest.fixture
def s(home, fake_server):
    configure(home, fake_server, **{"my-llm": {"max_retries": 0}})
    with lakeinfer.connect(home, progress=False) as session:
        session.sql(
            "CREATE TABLE reviews AS SELECT * FROM VALUES (1, 'good'), (2, 'bad'), (3, 'meh') "
            "AS v(id, text)"
        )
        yield session


def _rows(s, name="answers"):
    return s.sql(f"SELECT * FROM {name} ORDER BY id").to_pylist()


def _details(s, name="answers"):
    return {r["col_name"]: r["data_type"] for r in s.sql(f"DESCRIBE EXTENDED {name}").to_pylist()}


def test_created_once_into_a_delta_table_and_read_without_model_calls(s, fake_server, home):
    assert s.sql(CREATE).to_pylist() == [{"refresh_type": "FULL", "num_inserted_rows": 3}]
    assert fake_server.stats()["chat"] == 3
    path = home / "main" / "default" / "answers"
    assert DeltaTable(str(path)).to_pyarrow_table().num_rows == 3  # a real Delta table
    assert (path / "_lakeinfer_materialized_view.json").is_file()
    assert _rows(s)[0] == {"id": 1, "label": "echo: Classify: good"}
    assert _rows(s) == _rows(s)
    assert fake_server.stats()["chat"] == 3  # reads read the stored rows
    assert s.sql("SHOW TBLPROPERTIES answers").to_pylist() == [{"key": "team", "value": "ml"}]
    details = _details(s)
    assert details["Type"] == "MATERIALIZED_VIEW"
    assert details["Comment"] == "model answers"
    assert details["View Text"] == (
        "SELECT id, ai_query('my-llm', CONCAT('Classify: ', text)) AS label FROM reviews "
        "WHERE id > 0"
    )
    assert details["Last Refresh Type"] == "FULL"
    assert details["Last Refreshed From"] == "main.default.reviews at version 0"
    when = dt.datetime.fromisoformat(details["Last Refreshed"])
    assert abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 600
    assert [r["tableName"] for r in s.sql("SHOW TABLES").to_pylist()] == ["answers", "reviews"]


def test_refresh_after_appends_calls_the_model_for_the_new_rows_only(s, fake_server, home):
    s.sql(CREATE)
    s.sql("INSERT INTO reviews VALUES (4, 'wow'), (5, 'ugh')")
    s.sql("INSERT INTO reviews VALUES (6, 'fine'), (0, 'filtered out')")
    before = fake_server.stats()["chat"]
    result = s.sql("REFRESH MATERIALIZED VIEW answers").to_pylist()
    assert result == [{"refresh_type": "INCREMENTAL", "num_inserted_rows": 3}]
    assert fake_server.stats()["chat"] - before == 3  # rows 4, 5, 6: only new rows pay
    assert [r["id"] for r in _rows(s)] == [1, 2, 3, 4, 5, 6]
    assert _rows(s)[5] == {"id": 6, "label": "echo: Classify: fine"}
    details = _details(s)
    assert details["Last Refresh Type"] == "INCREMENTAL"
    assert details["Last Refreshed From"] == "main.default.reviews at version 2"
    history = DeltaTable(str(home / "main" / "default" / "answers")).history()
    assert json.loads(history[0][REFRESH_KEY]) == {
        "type": "INCREMENTAL",
        "sources": {"main.default.reviews": 2},
    }
    # nothing new: no calls, nothing added
    assert s.sql("REFRESH MATERIALIZED VIEW answers").to_pylist()[0]["num_inserted_rows"] == 0
    assert fake_server.stats()["chat"] - before == 3


@pytest.mark.parametrize(
    "change", ["UPDATE reviews SET text = 'bad' WHERE id = 3", "DELETE FROM reviews WHERE id = 2"]
)
def test_update_or_delete_in_the_source_refreshes_fully_from_the_cache(s, fake_server, change):
    s.sql(CREATE)
    s.sql(change)
    before = fake_server.stats()["chat"]
    assert s.sql("REFRESH MATERIALIZED VIEW answers").to_pylist()[0]["refresh_type"] == "FULL"
    assert fake_server.stats()["chat"] == before  # every request was answered before
    expected = s.sql(
        "SELECT id, CONCAT('echo: Classify: ', text) AS label FROM reviews ORDER BY id"
    ).to_pylist()
    assert _rows(s) == expected
    assert _details(s)["Last Refreshed From"] == "main.default.reviews at version 1"


def test_full_refresh_on_request_and_for_queries_that_cannot_be_appended(s, fake_server):
    s.sql(CREATE)
    assert s.sql("REFRESH MATERIALIZED VIEW answers FULL").to_pylist() == [
        {"refresh_type": "FULL", "num_inserted_rows": 3}
    ]
    s.sql(
        "CREATE MATERIALIZED VIEW counts AS SELECT ai_query('my-llm', text) AS label, "
        "count(*) AS n FROM reviews GROUP BY 1"
    )
    s.sql("INSERT INTO reviews VALUES (4, 'good')")
    before = fake_server.stats()["chat"]
    assert s.sql("REFRESH MATERIALIZED VIEW counts").to_pylist()[0]["refresh_type"] == "FULL"
    assert fake_server.stats()["chat"] == before  # 'good' was asked before
    assert s.sql("SELECT n FROM counts WHERE label = 'echo: good'").to_pylist() == [{"n": 2}]
    s.sql("CREATE TABLE parts PARTITIONED BY (day) AS SELECT 1 AS id, 'mon' AS day")
    s.sql("CREATE MATERIALIZED VIEW by_day AS SELECT id, day FROM parts")
    s.sql("INSERT INTO parts VALUES (2, 'tue')")
    assert s.sql("REFRESH MATERIALIZED VIEW by_day").to_pylist()[0]["refresh_type"] == "FULL"
    assert _rows(s, "by_day") == [{"id": 1, "day": "mon"}, {"id": 2, "day": "tue"}]
    s.sql("CREATE MATERIALIZED VIEW firsts AS SELECT id FROM reviews ORDER BY id LIMIT 2")
    s.sql("INSERT INTO reviews VALUES (0, 'first')")
    assert s.sql("REFRESH MATERIALIZED VIEW firsts").to_pylist()[0]["refresh_type"] == "FULL"
    assert _rows(s, "firsts") == [{"id": 0}, {"id": 1}]
    assert s.sql("SHOW TBLPROPERTIES answers").to_pylist() == [{"key": "team", "value": "ml"}]


def test_replace_if_not_exists_and_drop(s, fake_server, home):
    s.sql(CREATE)
    with pytest.raises(TableExistsError, match="materialized view main.default.answers already"):
        s.sql(CREATE)
    s.sql(
        CREATE.replace("CREATE", "CREATE MATERIALIZED VIEW IF NOT EXISTS", 1).replace(
            "MATERIALIZED VIEW IF NOT EXISTS MATERIALIZED VIEW", "MATERIALIZED VIEW IF NOT EXISTS"
        )
    )
    s.sql("CREATE OR REPLACE MATERIALIZED VIEW answers AS SELECT id, upper(text) AS t FROM reviews")
    assert _rows(s)[0] == {"id": 1, "t": "GOOD"}
    assert _details(s)["View Text"] == "SELECT id, UPPER(text) AS t FROM reviews"
    with pytest.raises(SqlError, match="is a materialized view .use DROP MATERIALIZED VIEW"):
        s.sql("DROP TABLE answers")
    with pytest.raises(SqlError, match="is a materialized view .use DROP MATERIALIZED VIEW"):
        s.sql("DROP VIEW answers")
    with pytest.raises(SqlError, match="is a table, not a materialized view"):
        s.sql("DROP MATERIALIZED VIEW reviews")
    s.sql("DROP MATERIALIZED VIEW answers")
    s.sql("DROP MATERIALIZED VIEW IF EXISTS answers")
    assert not (home / "main" / "default" / "answers").exists()
    assert [r["tableName"] for r in s.sql("SHOW TABLES").to_pylist()] == ["reviews"]


def test_writes_to_a_materialized_view_and_unsupported_forms_are_errors(s):
    s.sql(CREATE)
    for statement in (
        "INSERT INTO answers VALUES (9, 'x')",
        "UPDATE answers SET label = 'x'",
        "DELETE FROM answers WHERE id = 1",
    ):
        with pytest.raises(AnalysisError, match="answers is a materialized view"):
            s.sql(statement)
    with pytest.raises(AnalysisError, match="answers is a materialized view: replace it with"):
        s.sql("CREATE OR REPLACE TABLE answers AS SELECT 1 AS one")
    with pytest.raises(SqlError, match="main.default.reviews is not a materialized view"):
        s.sql("REFRESH MATERIALIZED VIEW reviews")
    with pytest.raises(AnalysisError, match="TEMPORARY is not supported"):
        s.sql("CREATE TEMPORARY MATERIALIZED VIEW m AS SELECT 1 AS one")
    with pytest.raises(AnalysisError, match="column list is not supported"):
        s.sql("CREATE MATERIALIZED VIEW m (a) AS SELECT 1")
    with pytest.raises(AnalysisError, match="use CREATE STREAMING TABLE"):
        s.sql("CREATE MATERIALIZED VIEW m AS SELECT * FROM STREAM(reviews)")
    with pytest.raises(TableExistsError, match="a table of that name exists"):
        s.sql("CREATE MATERIALIZED VIEW reviews AS SELECT 1 AS one")
    with pytest.raises(SqlSyntaxError, match="line 1, column 28: SCHEDULE CRON takes a Quartz"):
        s.sql("CREATE MATERIALIZED VIEW m SCHEDULE CRON '0 2 * * *' AS SELECT 1 AS one")
    with pytest.raises(SqlSyntaxError, match="TRIGGER ON UPDATE is not supported"):
        s.sql("CREATE MATERIALIZED VIEW m TRIGGER ON UPDATE AS SELECT 1 AS one")
    with pytest.raises(AnalysisError, match="unknown time zone 'Mars/Base'"):
        s.sql(
            "CREATE MATERIALIZED VIEW m SCHEDULE CRON '0 0 2 * * ?' AT TIME ZONE 'Mars/Base' "
            "AS SELECT 1 AS one"
        )
    assert [r["tableName"] for r in s.sql("SHOW TABLES").to_pylist()] == ["answers", "reviews"]


def test_a_failed_refresh_leaves_the_view_as_it_was(s, home):
    s.sql("CREATE MATERIALIZED VIEW ratios AS SELECT id, 10 / (id - 7) AS q FROM reviews")
    path = str(home / "main" / "default" / "ratios")
    version = DeltaTable(path).version()
    s.sql("INSERT INTO reviews VALUES (7, 'x')")
    for statement in ("REFRESH MATERIALIZED VIEW ratios", "REFRESH MATERIALIZED VIEW ratios FULL"):
        with pytest.raises(SqlError, match="DIVIDE_BY_ZERO"):
            s.sql(statement)
        assert DeltaTable(path).version() == version
    assert [r["id"] for r in _rows(s, "ratios")] == [1, 2, 3]


def test_schedule_clauses_become_jobs_of_the_scheduler(s, home, fake_server):
    s.sql(
        "CREATE MATERIALIZED VIEW nightly SCHEDULE CRON '0 30 2 * * ?' AT TIME ZONE "
        "'Europe/Paris' AS SELECT id, ai_query('my-llm', text) AS a FROM reviews"
    )
    s.sql(
        "CREATE MATERIALIZED VIEW hourly SCHEDULE REFRESH EVERY 2 HOURS AS SELECT id FROM reviews"
    )
    s.sql("CREATE MATERIALIZED VIEW weekly SCHEDULE CRON '0 0 6 ? * 2' AS SELECT id FROM reviews")
    assert _details(s, "nightly")["Refresh Schedule"] == (
        "SCHEDULE CRON '0 30 2 * * ?' AT TIME ZONE 'Europe/Paris'"
    )
    jobs = {j.name: j for j in scheduled_jobs(DeltaCatalog(home))}
    assert sorted(jobs) == [
        "refresh main.default.hourly",
        "refresh main.default.nightly",
        "refresh main.default.weekly",
    ]
    nightly = jobs["refresh main.default.nightly"]
    assert (nightly.schedule.cron, nightly.schedule.timezone) == ("30 2 * * *", "Europe/Paris")
    assert jobs["refresh main.default.hourly"].schedule.cron == "0 */2 * * *"
    assert jobs["refresh main.default.weekly"].schedule.cron == "0 6 * * 1"  # Quartz 2 = Monday
    # the scheduler starts the refresh when it is due, and the refresh runs
    s.sql("INSERT INTO reviews VALUES (4, 'new')")
    now = [dt.datetime(2025, 1, 1, 0, 0, tzinfo=dt.UTC)]
    started = []
    scheduler = JobScheduler(list(jobs.values()), started.append, clock=lambda: now[0])
    now[0] = dt.datetime(2025, 1, 2, 1, 31, tzinfo=dt.UTC)  # 02:31 in Paris
    assert {j.name for j in scheduler.tick()} >= {"refresh main.default.nightly"}
    before = fake_server.stats()["chat"]
    run = JobRunner(home, say=None).run(nightly)
    assert run.ok
    assert fake_server.stats()["chat"] - before == 1  # the appended row only
    assert len(_rows(s, "nightly")) == 4


def test_statements_parse_into_their_nodes_and_print_back():
    from sqlglot import parse_one

    from lakeinfer.features import load
    from lakeinfer.pipelines import materialized_syntax as syntax
    from lakeinfer.sql.parse import parse_statements

    load()
    refresh = parse_one("refresh materialized view main.default.mv full", read="lakeinfer")
    assert isinstance(refresh, syntax.RefreshMaterializedView) and refresh.args["full"]
    assert refresh.sql() == "REFRESH MATERIALIZED VIEW main.default.mv FULL"
    create = parse_one(
        "CREATE OR REPLACE MATERIALIZED VIEW mv COMMENT 'c' SCHEDULE EVERY 1 DAY AS SELECT 1 AS a",
        read="lakeinfer",
    )
    assert isinstance(create, syntax.CreateMaterializedView)
    assert create.args["schedule"].cron == "0 0 * * *"
    assert create.this.args["replace"]
    assert create.sql() == (
        "CREATE OR REPLACE MATERIALIZED VIEW mv COMMENT 'c' SCHEDULE EVERY 1 DAY AS SELECT 1 AS a"
    )
    with pytest.raises(SqlSyntaxError, match="column 30: unexpected 'NOW' after REFRESH"):
        parse_statements("REFRESH MATERIALIZED VIEW mv NOW")


def test_jobs_serve_runs_the_lakehouse_schedules_without_a_job_directory(home, fake_server):
    import os
    import signal
    import subprocess
    import sys

    from tests.test_cli import run

    configure(home, fake_server, **{"my-llm": {"max_retries": 0}})
    empty = run(home, "jobs", "serve")
    assert empty.returncode == 1
    assert "no scheduled (unpaused) job no materialized view with a SCHEDULE" in empty.stderr
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE MATERIALIZED VIEW daily SCHEDULE CRON '0 0 3 * * ?' AS SELECT 1 AS one")
    process = subprocess.Popen(
        [sys.executable, "-m", "lakeinfer.cli", "--home", str(home), "jobs", "serve"],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        line = process.stderr.readline()
        assert line.startswith("refresh main.default.daily: next run ")
        assert "T03:00:00" in line
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
