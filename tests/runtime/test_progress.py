"""The live progress observer: counts, rate and cost as answers arrive."""

from __future__ import annotations

from lakeinfer.endpoints.base import Outcome
from lakeinfer.runtime.progress import LiveProgress


def test_live_progress_adds_up_answers_tokens_retries_and_cost():
    now = [100.0]
    prices = {"a": (1.0, 2.0), "b": (None, None)}
    progress = LiveProgress(lambda e: prices[e], clock=lambda: now[0])
    progress.on_requests("a", total=10, cached=4)
    progress.on_outcome("a", Outcome(value="x", prompt_tokens=1000, completion_tokens=500))
    progress.on_outcome("a", Outcome(error="HTTP 500", attempts=3))
    progress.on_requests("b", total=2, cached=0)
    progress.on_outcome("b", Outcome(value="y", prompt_tokens=10, completion_tokens=10))
    now[0] = 102.0
    snap = progress.snapshot()
    assert (snap.total, snap.done, snap.cached, snap.errors, snap.retries) == (12, 7, 4, 1, 2)
    assert (snap.prompt_tokens, snap.completion_tokens) == (1010, 510)
    assert snap.cost_usd == 1000 / 1e6 * 1.0 + 500 / 1e6 * 2.0
    assert snap.elapsed_s == 2.0 and snap.rows_per_s == 1.5  # 3 answered (cache hits excluded)
    assert snap.endpoints == ["a", "b"]


def test_no_price_means_no_cost_and_nothing_started_means_no_rate():
    progress = LiveProgress()
    snap = progress.snapshot()
    assert snap.cost_usd is None and snap.rows_per_s == 0.0 and snap.elapsed_s == 0.0
