"""What the AI functions cost on the executors, summed on the driver with a Spark accumulator.

Each executor adds the counters of every batch it answers (requests, calls, cache hits,
errors, tokens); Spark ships the additions back with each finished task, so the driver reads
the totals of a statement as the difference of the accumulator before and after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.accumulators import AccumulatorParam

from lakeinfer.runtime.scheduler import CallStats

if TYPE_CHECKING:
    from pyspark import Accumulator, SparkContext

#: the counters, as in :class:`~lakeinfer.runtime.scheduler.CallStats`, plus cache hits
COUNTERS = (*CallStats.__dataclass_fields__, "cache_hits", "batches")

Usage = dict[str, int]


def zero() -> Usage:
    return dict.fromkeys(COUNTERS, 0)


class UsageParam(AccumulatorParam):
    """Counters added key by key."""

    def zero(self, value: Usage) -> Usage:
        return zero()

    def addInPlace(self, first: Usage, second: Usage) -> Usage:  # noqa: N802 (PySpark's name)
        for key, value in second.items():
            first[key] = first.get(key, 0) + value
        return first


def accumulator(context: SparkContext) -> Accumulator:
    """A new usage accumulator in ``context``."""
    return context.accumulator(zero(), UsageParam())


def of(stats: CallStats, cache_hits: int) -> Usage:
    """The counters of one answered batch."""
    usage = {name: int(getattr(stats, name)) for name in CallStats.__dataclass_fields__}
    usage["cache_hits"] = int(cache_hits)
    usage["batches"] = 1
    return usage


def difference(after: Usage, before: Usage) -> Usage:
    return {key: after.get(key, 0) - before.get(key, 0) for key in COUNTERS}


def call_stats(usage: Usage) -> CallStats:
    """The :class:`CallStats` part of ``usage``."""
    return CallStats(**{name: usage.get(name, 0) for name in CallStats.__dataclass_fields__})
