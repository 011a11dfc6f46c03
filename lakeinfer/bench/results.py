"""A benchmark run: its levels, its recommendation, and its rows in a Delta table.

One row per (run, concurrency level) in ``main.default.bench_results`` by default; the
recommended level has ``recommended = true``. ``lakeinfer size`` reads the latest run of an
endpoint from there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakeinfer.bench.runner import LevelResult, recommend, resolve_target, run_level, warm_up
from lakeinfer.errors import AnalysisError

if TYPE_CHECKING:
    from lakeinfer.session import Session

DEFAULT_BENCH_TABLE = "main.default.bench_results"

SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("endpoint", pa.string()),
        ("model", pa.string()),
        ("concurrency", pa.int64()),
        ("requests", pa.int64()),
        ("ok", pa.int64()),
        ("errors", pa.int64()),
        ("throttled", pa.int64()),
        ("duration_s", pa.float64()),
        ("requests_per_s", pa.float64()),
        ("input_tokens_per_s", pa.float64()),
        ("output_tokens_per_s", pa.float64()),
        ("mean_input_tokens", pa.float64()),
        ("mean_output_tokens", pa.float64()),
        ("latency_p50_ms", pa.float64()),
        ("latency_p90_ms", pa.float64()),
        ("latency_p99_ms", pa.float64()),
        ("latency_mean_ms", pa.float64()),
        ("ttft_p50_ms", pa.float64()),
        ("ttft_p90_ms", pa.float64()),
        ("ttft_p99_ms", pa.float64()),
        ("streamed", pa.bool_()),
        ("tokens_estimated", pa.bool_()),
        ("recommended", pa.bool_()),
    ]
)
_LEVEL_FIELDS = [f.name for f in dataclasses.fields(LevelResult) if f.name != "error_examples"]


@dataclass
class BenchResult:
    """Every level of one run, in the order they ran, and the recommended concurrency."""

    endpoint: str
    model: str
    levels: list[LevelResult]
    recommended: int | None
    reason: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def recommended_level(self) -> LevelResult | None:
        return next((lv for lv in self.levels if lv.concurrency == self.recommended), None)

    def records(self) -> list[dict[str, Any]]:
        """One dict per level, in the results table's schema."""
        base = {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "endpoint": self.endpoint,
            "model": self.model,
        }
        return [
            {
                **base,
                **{name: getattr(level, name) for name in _LEVEL_FIELDS},
                "recommended": level.concurrency == self.recommended,
            }
            for level in self.levels
        ]

    def to_arrow(self) -> pa.Table:
        return pa.Table.from_pylist(self.records(), schema=SCHEMA)

    def write(self, session: Session, table: str = DEFAULT_BENCH_TABLE) -> None:
        """Append the levels to ``table`` (one Delta commit)."""
        from lakeinfer.catalog.delta_catalog import DeltaCatalog

        name = DeltaCatalog.qualify(table.split("."), session.namespace)
        session.catalog.write(name, self.to_arrow(), "append")


def run_benchmark(
    session: Session,
    endpoint: str,
    prompts: Sequence[str],
    concurrency: Sequence[int],
    *,
    requests: int | None = None,
    stream: bool = True,
    max_tokens: int | None = None,
    timeout_s: float = 120.0,
    max_p99_ms: float | None = None,
    warm: bool = True,
    on_level: Any = None,
) -> BenchResult:
    """Benchmark ``endpoint`` at each concurrency level, lowest first.

    ``requests`` per level defaults to ``max(4 * concurrency, 32)`` so every client sends a few
    requests and the percentiles mean something. ``warm`` sends one untimed request first
    (see :func:`~lakeinfer.bench.runner.warm_up`). ``on_level(level)`` is called after each.
    """
    if not prompts:
        raise AnalysisError("no prompts to benchmark with")
    levels = sorted(set(concurrency))
    if not levels or levels[0] < 1:
        raise AnalysisError("concurrency levels must be positive integers, e.g. 1,8,32,128")
    target = resolve_target(session, endpoint)
    if warm:
        asyncio.run(warm_up(target, prompts[0], timeout_s=timeout_s))
    results = []
    for level in levels:
        count = requests if requests is not None else max(4 * level, 32)
        result = asyncio.run(
            run_level(
                target,
                prompts,
                level,
                count,
                stream=stream,
                max_tokens=max_tokens,
                timeout_s=timeout_s,
            )
        )
        results.append(result)
        if on_level is not None:
            on_level(result)
    chosen, reason = recommend(results, max_p99_ms)
    return BenchResult(endpoint, target.model, results, chosen, reason)


def latest_run(session: Session, endpoint: str, table: str = DEFAULT_BENCH_TABLE) -> BenchResult:
    """The most recent benchmark of ``endpoint`` stored in ``table``."""
    from lakeinfer.catalog.delta_catalog import DeltaCatalog

    name = DeltaCatalog.qualify(table.split("."), session.namespace)
    if not session.catalog.exists(name):
        raise AnalysisError(
            f"no benchmark results in {name}; run `lakeinfer bench {endpoint} --prompts ...` first"
        )
    rows = [r for r in session.table(str(name)).to_pylist() if r["endpoint"] == endpoint]
    if not rows:
        raise AnalysisError(
            f"no benchmark of endpoint {endpoint!r} in {name}; "
            f"run `lakeinfer bench {endpoint} --prompts ...` first"
        )
    latest = max(rows, key=lambda r: r["started_at"])
    run = sorted(
        (r for r in rows if r["run_id"] == latest["run_id"]), key=lambda r: r["concurrency"]
    )
    levels = [LevelResult(**{k: r[k] for k in _LEVEL_FIELDS}) for r in run]
    chosen = next((r["concurrency"] for r in run if r["recommended"]), None)
    return BenchResult(
        endpoint,
        latest["model"],
        levels,
        chosen,
        "as recommended by the run",
        run_id=latest["run_id"],
        started_at=latest["started_at"],
    )
