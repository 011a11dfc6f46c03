"""Scans and writes planned in the driver's process for the statements lakeinfer runs on Spark:
the executors read and write with the data source's code, no Python data source is planned,
files the filters exclude are not read, and a failed job commits nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable
from sqlglot import parse_one

import lakeinfer
from lakeinfer.errors import SqlError
from lakeinfer.spark import planned, tables
from lakeinfer.spark.pushdown import scan_filters


@pytest.fixture
def regions(home: Path):
    """``main.default.sales``, partitioned by region: two files for EU, one for US."""
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE sales (id BIGINT, region STRING) PARTITIONED BY (region)")
        session.sql("INSERT INTO sales VALUES (1, 'EU'), (2, 'US')")
        session.sql("INSERT INTO sales VALUES (3, 'EU')")
        yield session


@pytest.fixture
def on_spark(spark, home, regions):
    with lakeinfer.connect(home, progress=False, spark=spark) as session:
        yield session


def _plan(home: Path, sql: str, **options) -> planned.Scan:
    table = tables.resolve("main.default.sales", str(home))
    tree = parse_one(sql, read="databricks")
    return planned.plan_scan(
        table, filters=lambda schema: scan_filters(tree, "sales", schema), **options
    )


def _files(scan: planned.Scan) -> list[str]:
    return sorted(f.path.split("/")[0] for group in scan.groups for f in group)


def test_the_scan_reads_only_the_files_the_filters_may_keep(home, regions, on_spark):
    assert _files(_plan(home, "SELECT id FROM sales WHERE region = 'US'")) == ["region=US"]
    assert _files(_plan(home, "SELECT id FROM sales")) == ["region=EU", "region=EU", "region=US"]
    assert _plan(home, "SELECT id FROM sales WHERE region = 'XX'").groups == []
    rows = on_spark.sql("SELECT id FROM sales WHERE region = 'EU' ORDER BY id").to_pylist()
    assert rows == [{"id": 1}, {"id": 3}]
    assert on_spark.sql("SELECT count(*) AS n FROM sales WHERE region = 'XX'").to_pylist() == [
        {"n": 0}
    ]
    # a filter that does not convert exactly reads every file, and Spark still applies it
    assert on_spark.sql("SELECT id FROM sales WHERE id = 2.5").to_pylist() == []


def test_a_statement_reads_with_map_in_arrow_not_a_python_data_source(on_spark):
    runner = on_spark._spark
    frame = runner.dataframe(parse_one("SELECT id FROM sales WHERE id > 1"), runner.ai())
    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert "MapInArrow _ReadGroups" in plan and "BatchScan" not in plan
    assert sorted(r.id for r in frame.collect()) == [2, 3]


def test_time_travel_and_pruning_in_a_planned_scan(home, regions):
    table = tables.resolve("main.default.sales", str(home))
    first = planned.plan_scan(table, version=1, columns=["ID"])
    assert first.version == 1 and first.plan.output.names == ["id"]
    # a statement naming no column of the table (count(*)) reads them all
    assert planned.plan_scan(table, columns=set()).plan.output.names == ["id", "region"]
    assert _files(first) == ["region=EU", "region=US"]


def test_a_failed_job_commits_nothing_and_leaves_no_staging(home, regions, on_spark):
    before = DeltaTable(str(home / "main/default/sales")).version()
    with pytest.raises(SqlError, match="is not true"):
        on_spark.sql("CREATE TABLE bad AS SELECT id, assert_true(id < 2) AS ok FROM sales")
    assert sorted(p.name for p in (home / "main/default").iterdir()) == ["sales"]
    with pytest.raises(SqlError, match="is not true"):
        on_spark.sql(
            "INSERT INTO sales SELECT id + 10, region FROM sales WHERE assert_true(id < 2) IS NULL"
        )
    assert DeltaTable(str(home / "main/default/sales")).version() == before
    with lakeinfer.connect(home, progress=False) as embedded:
        assert embedded.sql("SELECT count(*) AS n FROM sales").to_pylist() == [{"n": 3}]


def test_a_partitioned_ctas_and_an_overwrite_are_one_commit_each(home, regions, on_spark):
    result = on_spark.sql(
        "CREATE TABLE copy PARTITIONED BY (region) AS SELECT id, region FROM sales"
    )
    assert result.to_pylist() == [{"num_affected_rows": 3, "num_inserted_rows": 3}]
    copy = DeltaTable(str(home / "main/default/copy"))
    assert copy.metadata().partition_columns == ["region"] and copy.version() == 0
    on_spark.sql("INSERT OVERWRITE copy SELECT id, region FROM sales WHERE region = 'US'")
    copy = DeltaTable(str(home / "main/default/copy"))
    assert copy.version() == 1 and copy.to_pyarrow_table().to_pylist() == [
        {"id": 2, "region": "US"}
    ]
