"""Benchmark endpoints at several concurrency levels and size capacity for batch jobs.

``run_benchmark(session, endpoint, prompts, [1, 8, 32])`` returns a
:class:`~lakeinfer.bench.results.BenchResult` (levels, recommended concurrency, ``write()`` to a
Delta table); :mod:`lakeinfer.bench.plot` draws it; :func:`lakeinfer.bench.sizing.size` turns it
into replicas and provisioned throughput for a deadline. On the command line: ``lakeinfer
bench`` and ``lakeinfer size``.

The names below load on first use, so that ``lakeinfer`` can register its commands cheaply.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakeinfer.bench.results import DEFAULT_BENCH_TABLE, BenchResult, latest_run, run_benchmark
    from lakeinfer.bench.sizing import Capacity, Sizing, Workload, parse_duration, size

_EXPORTS = {
    **dict.fromkeys(
        ["DEFAULT_BENCH_TABLE", "BenchResult", "latest_run", "run_benchmark"],
        "lakeinfer.bench.results",
    ),
    **dict.fromkeys(
        ["Capacity", "Sizing", "Workload", "parse_duration", "size"], "lakeinfer.bench.sizing"
    ),
}

__all__ = [
    "DEFAULT_BENCH_TABLE",
    "BenchResult",
    "Capacity",
    "Sizing",
    "Workload",
    "latest_run",
    "parse_duration",
    "run_benchmark",
    "size",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lakeinfer.bench' has no attribute {name!r}")
