"""ai_forecast on a synthetic seasonal series: shape, columns, interval around the forecast."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest

from lakeinfer.errors import AnalysisError

pytest.importorskip("statsmodels")


def _truth(group: str, month: int) -> float:
    base = 100.0 if group == "north" else 40.0
    return base + 0.5 * month + 10.0 * math.sin(2 * math.pi * month / 12)


def _sales(session) -> None:
    months, groups, sales = [], [], []
    for group in ("north", "south"):
        for i in range(48):
            months.append(dt.date(2020 + i // 12, i % 12 + 1, 1))
            groups.append(group)
            noise = 0.3 * math.sin(i * 7.1)  # small and deterministic
            sales.append(_truth(group, i) + noise)
    table = session.catalog.qualify(["sales"], session.namespace)
    session.catalog.write(
        table,
        pa.table({"month": pa.array(months, pa.date32()), "region": groups, "units": sales}),
        "append",
    )


def test_forecast_by_group_with_intervals(session):
    _sales(session)
    result = session.sql(
        "SELECT * FROM ai_forecast(observed => TABLE(SELECT month, region, units FROM sales), "
        "horizon => '2025-01-01', time_col => 'month', value_col => 'units', "
        "group_col => 'region', prediction_interval_width => 0.9) ORDER BY region, month"
    ).to_arrow()
    assert result.column_names == [
        "region",
        "month",
        "units_forecast",
        "units_upper",
        "units_lower",
    ]
    assert result.schema.field("month").type == pa.date32()
    assert result.num_rows == 24  # 12 months of 2024 per region
    rows = result.to_pylist()
    assert rows[0]["month"] == dt.date(2024, 1, 1) and rows[11]["month"] == dt.date(2024, 12, 1)
    for index, row in enumerate(rows):
        assert row["units_lower"] < row["units_forecast"] < row["units_upper"]
        truth = _truth(row["region"], 48 + index % 12)
        assert abs(row["units_forecast"] - truth) < 2.0  # the season and the trend are learnt


def test_forecast_steps_several_values_and_errors(session):
    _sales(session)
    result = session.sql(
        "SELECT * FROM ai_forecast(TABLE(SELECT month, units, units * 2 AS doubled FROM sales "
        "WHERE region = 'south'), horizon => 3, time_col => 'month', "
        "value_col => array('units', 'doubled'))"
    ).to_arrow()
    assert result.num_rows == 3
    assert result.column_names == [
        "month",
        "units_forecast",
        "units_upper",
        "units_lower",
        "doubled_forecast",
        "doubled_upper",
        "doubled_lower",
    ]
    doubled = result.column("doubled_forecast").to_pylist()
    units = result.column("units_forecast").to_pylist()
    assert all(abs(d - 2 * u) < 1.0 for d, u in zip(doubled, units, strict=True))
    with pytest.raises(AnalysisError, match="value_col 'nope' is not a column"):
        session.sql(
            "SELECT * FROM ai_forecast(TABLE(sales), horizon => 3, time_col => 'month', "
            "value_col => 'nope')"
        ).to_arrow()
    with pytest.raises(AnalysisError, match="missing required argument 'time_col'"):
        session.sql("SELECT * FROM ai_forecast(TABLE(sales), horizon => 3)").to_arrow()


def test_each_group_is_forecast_from_its_own_last_observation(session):
    _sales(session)  # both regions observed up to 2023-12
    session.sql("DELETE FROM sales WHERE region = 'south' AND month >= '2023-07-01'")
    query = (
        "SELECT region, month FROM ai_forecast(observed => TABLE(sales), horizon => '{}', "
        "time_col => 'month', value_col => 'units', group_col => 'region') ORDER BY region, month"
    )
    rows = session.sql(query.format("2024-01-01")).to_pylist()
    # north ends in December: the horizon is not after it, so north has no rows
    assert {r["region"] for r in rows} == {"south"}
    assert [r["month"] for r in rows] == [dt.date(2023, m, 1) for m in range(7, 13)]
    # before every group's last observation: no rows at all, not an error
    assert session.sql(query.format("2023-03-01")).to_pylist() == []
