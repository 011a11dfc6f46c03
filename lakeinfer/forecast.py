"""``ai_forecast``: Databricks' time series forecasting table function, on statsmodels'
exponential smoothing (ETS) models.

::

    SELECT * FROM ai_forecast(
      observed => TABLE(SELECT ds, region, sales FROM main.default.daily),
      horizon => '2025-01-01',          -- right-exclusive end time, or a number of steps
      time_col => 'ds',
      value_col => 'sales',             -- or array('sales', 'returns')
      group_col => 'region',            -- optional; or an array of columns
      prediction_interval_width => 0.95,
      frequency => 'auto')              -- or 'hour', 'day', 'week', 'month', 'quarter', 'year'

Each (group, value column) series is sorted by time, put on a regular grid of the frequency
(gaps filled by linear interpolation; several values at one time are averaged) and fitted with
an additive-error ETS model: additive trend from 10 points, additive seasonality when two full
seasons are observed (7 for days, 24 for hours, 12 for months, 4 for quarters, 52 for weeks).
The result has the group columns, the time column (same type as the input) and, per value
column ``v``, ``v_forecast``, ``v_upper`` and ``v_lower`` (DOUBLE; the bounds of the prediction
interval of the given width), as on Databricks.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from lakeinfer.catalog.delta_catalog import Namespace
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.errors import AnalysisError
from lakeinfer.sql.arguments import Kind, Parameter, Signature, bind, evaluate_constant
from lakeinfer.sql.parse import position_of

if TYPE_CHECKING:
    import pandas as pd

    from lakeinfer.engine.query import QueryRunner

SIGNATURE = Signature(
    "ai_forecast",
    (
        Parameter("observed", required=True),
        *(Parameter(n, Kind.CONSTANT, required=True) for n in ("horizon", "time_col", "value_col")),
        *(
            Parameter(n, Kind.CONSTANT)
            for n in ("group_col", "prediction_interval_width", "frequency", "seed", "parameters")
        ),
    ),
)
#: frequency names -> pandas offsets
FREQUENCIES = {
    "minute": "min",
    "hour": "h",
    "day": "D",
    "week": "W",
    "month": "MS",
    "quarter": "QS",
    "year": "YS",
}
SEASONS = {"min": 60, "h": 24, "D": 7, "W": 52, "MS": 12, "M": 12, "ME": 12, "QS": 4, "Q": 4}
MIN_POINTS = 3
TREND_POINTS = 10


def ai_forecast(
    runner: QueryRunner, node: exp.Expression, namespace: Namespace, ai: AiEvaluator
) -> pa.Table:
    """Evaluate one ``ai_forecast(...)`` call of a FROM clause."""
    where = f"ai_forecast{position_of(node)}"
    args = bind(node, SIGNATURE)
    data = runner.run(_observed_query(args.pop("observed"), where), namespace, ai)
    const = {
        name: evaluate_constant(runner.con, value, f"{where}: {name}")
        for name, value in args.items()
    }
    time_col = _column(data, const["time_col"], where, "time_col")
    values = [_column(data, v, where, "value_col") for v in _names(const["value_col"])]
    groups = [_column(data, g, where, "group_col") for g in _names(const.get("group_col"))]
    width = const.get("prediction_interval_width", 0.95)
    if not isinstance(width, (int, float)) or not 0 < float(width) < 1:
        raise AnalysisError(f"{where}: prediction_interval_width must be between 0 and 1")
    if not values:
        raise AnalysisError(f"{where}: value_col names no column")
    frequency = str(const.get("frequency") or "auto").lower()
    if frequency != "auto" and frequency not in FREQUENCIES:
        raise AnalysisError(
            f"{where}: frequency {frequency!r} is not one of auto, {', '.join(FREQUENCIES)}"
        )
    return _forecast(
        data, time_col, values, groups, const["horizon"], float(width), frequency, where
    )


def _observed_query(node: exp.Expression, where: str) -> exp.Expression:
    """The query of ``TABLE(query)``, ``TABLE(name)`` or ``(query)``."""
    if isinstance(node, exp.Anonymous) and str(node.this).upper() == "TABLE":
        if len(node.expressions) != 1:
            raise AnalysisError(f"{where}: observed takes TABLE(name) or TABLE(query)")
        node = node.expressions[0]
    if isinstance(node, exp.Subquery):
        node = node.this
    if isinstance(node, exp.Query):
        return node
    if isinstance(node, (exp.Column, exp.Table, exp.Dot)):
        parts = [p.name for p in node.parts] if hasattr(node, "parts") else [node.name]
        return exp.select("*").from_(
            exp.table_(*reversed(parts)) if len(parts) == 1 else ".".join(parts)
        )
    raise AnalysisError(f"{where}: observed must be TABLE(name) or TABLE(query)")


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _column(data: pa.Table, name: Any, where: str, argument: str) -> str:
    if not isinstance(name, str):
        raise AnalysisError(f"{where}: {argument} must be a column name (a string)")
    for column in data.column_names:
        if column.lower() == name.lower():
            return column
    raise AnalysisError(
        f"{where}: {argument} {name!r} is not a column of observed "
        f"(columns: {', '.join(data.column_names)})"
    )


def _forecast(
    data: pa.Table,
    time_col: str,
    values: list[str],
    groups: list[str],
    horizon: Any,
    width: float,
    frequency: str,
    where: str,
) -> pa.Table:
    import pandas as pd

    time_type = data.schema.field(time_col).type
    if not (pa.types.is_timestamp(time_type) or pa.types.is_date(time_type)):
        raise AnalysisError(f"{where}: time_col {time_col!r} must be a DATE or TIMESTAMP column")
    selected = data.select([*groups, time_col, *values])
    for value in values:
        dtype = selected.schema.field(value).type
        if not (
            pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype)
        ):
            raise AnalysisError(f"{where}: value_col {value!r} must be numeric, not {dtype}")
        at = selected.schema.get_field_index(value)
        selected = selected.set_column(at, value, selected.column(value).cast(pa.float64()))
    frame = selected.to_pandas()
    frame[time_col] = pd.to_datetime(frame[time_col]).dt.tz_localize(None)
    keys: list[tuple] = (
        [()]
        if not groups
        else list(frame[groups].drop_duplicates().itertuples(index=False, name=None))
    )
    out: dict[str, list] = {c: [] for c in [*groups, time_col]}
    for value in values:
        for suffix in ("forecast", "upper", "lower"):
            out[f"{value}_{suffix}"] = []
    for key in keys:
        part = frame
        for column, k in zip(groups, key, strict=True):
            part = part[part[column].isna()] if pd.isna(k) else part[part[column] == k]
        label = f" (group {', '.join(map(str, key))})" if groups else ""
        part = part.dropna(subset=[time_col]).sort_values(time_col)
        offset = _frequency(part[time_col], frequency, where + label)
        future = _future(part[time_col].iloc[-1], offset, horizon, where)
        if not future:  # the horizon is not after this group's last observation
            continue
        for column, k in zip(groups, key, strict=True):
            out[column].extend([k] * len(future))
        out[time_col].extend(future)
        for value in values:
            mean, lower, upper = _fit(
                part, time_col, value, offset, len(future), width, where + label
            )
            out[f"{value}_forecast"].extend(mean)
            out[f"{value}_upper"].extend(upper)
            out[f"{value}_lower"].extend(lower)
    arrays = []
    names = list(out)
    for name in names:
        if name in groups:
            arrays.append(pa.array(out[name], data.schema.field(name).type, from_pandas=True))
        elif name == time_col:
            stamps = pa.array(pd.DatetimeIndex(out[name]).as_unit("us"), pa.timestamp("us"))
            arrays.append(stamps.cast(time_type, safe=False))
        else:
            arrays.append(pa.array(out[name], pa.float64()))
    return pa.Table.from_arrays(arrays, names=names)


def _frequency(times: pd.Series, frequency: str, where: str) -> pd.DateOffset:
    import pandas as pd

    if frequency != "auto":
        return pd.tseries.frequencies.to_offset(FREQUENCIES[frequency])
    stamps = pd.DatetimeIndex(times.drop_duplicates())
    if len(stamps) < MIN_POINTS:
        raise AnalysisError(f"{where}: at least {MIN_POINTS} time points are needed to forecast")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # infer_freq's return type changes across versions
        inferred = pd.infer_freq(stamps) or pd.infer_freq(stamps[-3:])
    if inferred is None:  # irregular: the median step
        inferred = pd.Timedelta(int(np.median(np.diff(stamps.asi8))), unit="ns")
    return pd.tseries.frequencies.to_offset(inferred)


def _future(last: pd.Timestamp, offset: pd.DateOffset, horizon: Any, where: str) -> list:
    import pandas as pd

    if isinstance(horizon, bool) or horizon is None:
        raise AnalysisError(f"{where}: horizon must be an end time or a number of steps")
    if isinstance(horizon, int):
        if horizon <= 0:
            raise AnalysisError(f"{where}: horizon must be a positive number of steps")
        return list(pd.date_range(last, periods=horizon + 1, freq=offset)[1:])
    try:
        end = pd.Timestamp(horizon).tz_localize(None)
    except (ValueError, TypeError):
        raise AnalysisError(f"{where}: horizon {horizon!r} is not a date or timestamp") from None
    # a horizon at or before the last observation leaves nothing to forecast: no rows
    return [t for t in pd.date_range(last, end, freq=offset)[1:] if t < end]


def _fit(
    part: pd.DataFrame,
    time_col: str,
    value: str,
    offset: pd.DateOffset,
    steps: int,
    width: float,
    where: str,
) -> tuple[list[float], list[float], list[float]]:
    """Mean, lower and upper of the next ``steps`` values of one series."""
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    series = part[[time_col, value]].dropna().groupby(time_col)[value].mean()
    if len(series) < MIN_POINTS:
        raise AnalysisError(
            f"{where}: value_col {value!r} has {len(series)} observed points; at least "
            f"{MIN_POINTS} are needed"
        )
    grid = pd.date_range(series.index[0], series.index[-1], freq=offset)
    y = series.reindex(series.index.union(grid)).interpolate("time").reindex(grid)
    y = pd.Series(y.to_numpy(dtype=float))
    season = SEASONS.get(getattr(offset, "rule_code", ""), None)
    attempts = []
    seasonal = season is not None and len(y) >= 2 * season
    trend = len(y) >= TREND_POINTS
    attempts.append((trend, seasonal))
    attempts.extend([(trend, False), (False, False)])
    for use_trend, use_season in attempts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ETSModel(
                    y,
                    error="add",
                    trend="add" if use_trend else None,
                    seasonal="add" if use_season else None,
                    seasonal_periods=season if use_season else None,
                )
                fitted = model.fit(disp=False)
                frame = fitted.get_prediction(len(y), len(y) + steps - 1).summary_frame(
                    alpha=1 - width
                )
        except (ValueError, np.linalg.LinAlgError):
            continue
        mean = frame["mean"].to_numpy(dtype=float)
        if np.all(np.isfinite(mean)):
            lower = np.minimum(frame["pi_lower"].to_numpy(dtype=float), mean)
            upper = np.maximum(frame["pi_upper"].to_numpy(dtype=float), mean)
            return mean.tolist(), lower.tolist(), upper.tolist()
    raise AnalysisError(f"{where}: no model could be fitted to value_col {value!r}")
