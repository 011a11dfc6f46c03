"""Deadlines that follow progress, and retries that use what a failure taught, on virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from lakeinfer.endpoints.base import AIRequest, Capabilities, Outcome, Provider
from lakeinfer.runtime.deadlines import made_progress
from lakeinfer.runtime.limits import EndpointLimits
from lakeinfer.runtime.scheduler import run_requests
from tests.runtime.virtual_time import run_virtual


class StreamingProvider(Provider):
    """Answers after ``pieces`` pieces ``every`` seconds apart, reporting each as progress;
    ``stall_after`` pieces, it goes silent for good."""

    def __init__(self, pieces: int, every: float, stall_after: int | None = None):
        self.name = "streaming"
        self.capabilities = Capabilities(task="chat", max_concurrency=4)
        self.pieces, self.every, self.stall_after = pieces, every, stall_after
        self.calls = 0

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        self.calls += 1
        for n in range(self.pieces):
            if n == self.stall_after:
                await asyncio.sleep(3600)
            await asyncio.sleep(self.every)
            made_progress()
        return [Outcome(value=r.payload) for r in batch]


def _run(provider: Provider, limits: EndpointLimits, payloads=("a",)):
    results: dict[int, Outcome] = {}

    async def main():
        loop = asyncio.get_running_loop()
        requests = [(i, AIRequest(p)) for i, p in enumerate(payloads)]
        stats = await run_requests(
            provider, requests, results.__setitem__, limits=limits, clock=loop.time
        )
        return stats, loop.time()

    stats, end = run_virtual(main())
    return stats, results, end


def test_an_answer_that_keeps_coming_outlives_its_timeout_in_one_call():
    provider = StreamingProvider(pieces=40, every=0.25)  # 10 s in all, a piece every 0.25 s
    limits = EndpointLimits(timeout_s=1.0, max_retries=3, max_request_s=60.0)
    stats, results, end = _run(provider, limits, ["a", "b"])
    assert [results[i].value for i in (0, 1)] == ["a", "b"]
    assert (provider.calls, stats.retries, stats.timeouts) == (2, 0, 0)
    assert end > 9.9


def test_an_answer_still_coming_at_the_cap_is_cut_off_and_not_sent_again():
    provider = StreamingProvider(pieces=1000, every=0.25)
    limits = EndpointLimits(timeout_s=1.0, max_retries=3, max_request_s=5.0)
    stats, results, end = _run(provider, limits)
    error = results[0].error
    assert error is not None and error.startswith("timed out after 5s while the answer was still")
    assert "SET lakeinfer.max_request_s = 10" in error
    assert not results[0].retryable
    assert (provider.calls, stats.retries, stats.timeouts) == (1, 0, 1)
    assert 5.0 <= end <= 5.2


def test_a_stream_that_stalls_times_out_after_timeout_s_without_progress():
    provider = StreamingProvider(pieces=100, every=0.25, stall_after=8)
    limits = EndpointLimits(timeout_s=1.0, max_retries=1, max_request_s=60.0)
    stats, results, _ = _run(provider, limits)
    assert results[0].error == "timed out: no new token for 1s (after 2 attempts)"
    assert (provider.calls, stats.retries, stats.timeouts) == (2, 1, 2)


class LearningProvider(Provider):
    """Fails a request without ``penalty`` with an error that says to add it; answers one with
    it. Records the parameters of each call."""

    def __init__(self):
        self.name = "learning"
        self.capabilities = Capabilities(task="chat", max_concurrency=1)
        self.seen: list[dict] = []

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        self.seen.extend(r.parameters for r in batch)
        return [
            Outcome(value="ok", completion_tokens=1)
            if r.parameters.get("penalty")
            else Outcome(
                error="looped", retryable=True, retry_parameters={"penalty": 1}, completion_tokens=7
            )
            for r in batch
        ]


def test_a_retry_carries_what_the_failure_taught_and_counts_both_attempts():
    provider = LearningProvider()
    limits = EndpointLimits(timeout_s=10.0, max_retries=3)
    results: dict[int, Outcome] = {}

    async def main():
        loop = asyncio.get_running_loop()
        return await run_requests(
            provider,
            [(0, AIRequest("a", {"max_tokens": 9}))],
            results.__setitem__,
            limits=limits,
            clock=loop.time,
        )

    stats = run_virtual(main())
    assert provider.seen == [{"max_tokens": 9}, {"max_tokens": 9, "penalty": 1}]
    assert results[0].value == "ok" and stats.completion_tokens == 8


def test_a_call_without_progress_keeps_a_timeout_longer_than_the_cap():
    provider = StreamingProvider(pieces=1, every=8.0)  # answers after 8 s, reporting nothing
    limits = EndpointLimits(timeout_s=10.0, max_retries=0, max_request_s=5.0)
    _, results, _ = _run(provider, limits)
    assert results[0].ok
