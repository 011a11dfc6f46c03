"""The scheduler with in-process providers, on a fake clock or virtual time (no real sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from lakeinfer.endpoints.base import AIRequest, Capabilities, Outcome, Provider, Task
from lakeinfer.runtime.limits import EndpointLimits
from lakeinfer.runtime.scheduler import EndpointPacer, pacer_for, run_requests
from tests.runtime.virtual_time import run_virtual


class FlakyProvider(Provider):
    """Fails each request ``failures`` times with a retryable error, then answers it."""

    def __init__(
        self,
        failures: int,
        max_retries: int = 3,
        concurrency: int = 4,
        retry_after: float | None = None,
    ):
        self.name = "flaky"
        self.capabilities = Capabilities(task="chat", max_concurrency=concurrency)
        self.max_retries = max_retries
        self.failures = failures
        self.retry_after = retry_after
        self.seen: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0)
        self.in_flight -= 1
        outcomes = []
        for request in batch:
            count = self.seen.get(request.payload, 0)
            self.seen[request.payload] = count + 1
            if count < self.failures:
                outcomes.append(
                    Outcome(error="HTTP 503", retryable=True, retry_after=self.retry_after)
                )
            else:
                outcomes.append(Outcome(value=request.payload.upper(), prompt_tokens=2))
        return outcomes


def run(provider: Provider, payloads: list[str]):
    sleeps: list[float] = []
    results: dict[int, Outcome] = {}

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    stats = asyncio.run(
        run_requests(
            provider,
            [(i, AIRequest(p)) for i, p in enumerate(payloads)],
            lambda key, outcome: results.__setitem__(key, outcome),
            sleep=fake_sleep,
        )
    )
    return stats, results, sleeps


def test_every_request_is_answered_once_within_the_window():
    provider = FlakyProvider(failures=0, concurrency=4)
    stats, results, _ = run(provider, [f"r{i}" for i in range(50)])
    assert [results[i].value for i in range(50)] == [f"R{i}" for i in range(50)]
    assert stats.requests == 50 and stats.calls == 50 and stats.prompt_tokens == 100
    assert provider.max_in_flight <= 4


def test_retryable_failures_are_retried_with_backoff_honouring_retry_after():
    provider = FlakyProvider(failures=2, retry_after=7.0)
    stats, results, sleeps = run(provider, ["a"])
    assert results[0].value == "A" and results[0].attempts == 3
    assert stats.retries == 2 and stats.errors == 0
    assert sleeps == [7.0, 7.0]


def test_retries_are_bounded_and_the_error_says_how_many_attempts():
    provider = FlakyProvider(failures=10, max_retries=2)
    stats, results, sleeps = run(provider, ["a"])
    assert results[0].error == "HTTP 503 (after 3 attempts)"
    assert stats.errors == 1 and len(sleeps) == 2
    assert all(0 <= s <= 30 for s in sleeps)


# -- pacing, on virtual time (tests.runtime.virtual_time: no real sleeps) -----------------------
class TimedProvider(Provider):
    """Answers after ``latency`` seconds of loop time, recording when each call started.

    ``script(n)`` may give the outcome of the n-th call (0-based) instead of an answer.
    """

    def __init__(
        self,
        concurrency: int = 4,
        latency: float = 0.0,
        completion_tokens: int = 0,
        task: Task = "chat",
        script=None,
    ):
        self.name = "timed"
        self.capabilities = Capabilities(task=task, max_concurrency=concurrency)
        self.latency = latency
        self.completion_tokens = completion_tokens
        self.script = script
        self.starts: list[float] = []
        self.in_flight = 0
        self.in_flight_at_start: list[int] = []

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        n = len(self.starts)
        self.starts.append(asyncio.get_running_loop().time())
        self.in_flight += 1
        self.in_flight_at_start.append(self.in_flight)
        try:
            scripted = self.script(n) if self.script else None
            if isinstance(scripted, float):
                await asyncio.sleep(scripted)
            elif self.latency:
                await asyncio.sleep(self.latency)
            if isinstance(scripted, Outcome):
                return [scripted for _ in batch]
            return [
                Outcome(value=r.payload, completion_tokens=self.completion_tokens) for r in batch
            ]
        finally:
            self.in_flight -= 1


def run_paced(provider: Provider, payloads: list[str], limits: EndpointLimits, **options):
    """Run the scheduler on virtual time; returns stats, outcomes by index, and the end time."""
    results: dict[int, Outcome] = {}

    async def main():
        loop = asyncio.get_running_loop()
        stats = await run_requests(
            provider,
            [(i, AIRequest(p)) for i, p in enumerate(payloads)],
            results.__setitem__,
            limits=limits,
            clock=loop.time,
            **options,
        )
        return stats, loop.time()

    stats, end = run_virtual(main())
    return stats, results, end


def test_requests_per_minute_spaces_calls_evenly_across_workers():
    provider = TimedProvider(concurrency=8, latency=0.05)
    limits = EndpointLimits(max_concurrency=8, requests_per_minute=600)  # 10/s
    stats, results, _ = run_paced(provider, [f"r{i}" for i in range(30)], limits)
    assert len(results) == 30 and stats.errors == 0
    gaps = [b - a for a, b in zip(provider.starts, provider.starts[1:], strict=False)]
    assert min(gaps) == pytest.approx(0.1) and max(gaps) == pytest.approx(0.1)
    assert provider.starts[-1] - provider.starts[0] == pytest.approx(2.9)


def test_input_token_budget_paces_calls_by_prompt_length():
    provider = TimedProvider()
    limits = EndpointLimits(max_concurrency=4, input_tokens_per_minute=600)  # 10 tokens/s
    run_paced(provider, ["x" * 40] * 5, limits)  # 10 tokens each: one call per second
    assert provider.starts == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])


def test_output_budget_is_corrected_with_the_reported_usage():
    limits = EndpointLimits(max_concurrency=1, output_tokens_per_minute=600)  # 10 tokens/s
    unreported = TimedProvider(concurrency=1, completion_tokens=0)
    _, _, end_unreported = run_paced(unreported, ["a", "b", "c"], limits)
    # nothing reported: each call keeps its 256-token reservation
    assert unreported.starts == pytest.approx([0.0, 25.6, 51.2])
    reported = TimedProvider(concurrency=1, completion_tokens=5)
    run_paced(reported, ["a", "b", "c"], limits)
    # each call really used 5 tokens: the next waits 0.5 s, not 25.6 s
    assert reported.starts == pytest.approx([0.0, 0.5, 1.0])


def test_max_tokens_sets_the_output_reservation():
    provider = TimedProvider(concurrency=1)
    limits = EndpointLimits(max_concurrency=1, output_tokens_per_minute=600)

    async def main():
        loop = asyncio.get_running_loop()
        requests = [(i, AIRequest("q", {"max_tokens": 20})) for i in range(3)]
        await run_requests(provider, requests, lambda k, o: None, limits=limits, clock=loop.time)

    run_virtual(main())
    assert provider.starts == pytest.approx([0.0, 2.0, 4.0])


def test_timeout_becomes_a_retryable_error_that_is_retried():
    provider = TimedProvider(script=lambda n: 60.0 if n == 0 else None)  # the first call hangs
    limits = EndpointLimits(max_concurrency=1, timeout_s=0.5, max_retries=2)
    stats, results, _ = run_paced(provider, ["a"], limits)
    assert results[0].ok and results[0].value == "a" and results[0].attempts == 2
    assert stats.timeouts == 1 and stats.retries == 1 and stats.errors == 0


def test_timeout_without_retries_says_what_happened_and_after_how_many_attempts():
    provider = TimedProvider(script=lambda n: 60.0)
    limits = EndpointLimits(max_concurrency=1, timeout_s=0.5, max_retries=0)
    stats, results, end = run_paced(provider, ["a"], limits)
    assert results[0].error == "timed out after 0.5s (after 1 attempt)"
    assert results[0].timed_out and results[0].retryable
    assert stats.timeouts == 1 and stats.errors == 1
    assert 0.5 <= end <= 0.5 + 0.05 + 1e-9  # deadlines are checked every timeout / 10


def test_throttling_halves_the_calls_in_flight_and_success_grows_them_back():
    throttled = Outcome(error="HTTP 429 from fake", retryable=True, throttled=True)
    provider = TimedProvider(
        concurrency=16, latency=1.0, script=lambda n: throttled if n < 16 else None
    )
    limits = EndpointLimits(max_concurrency=16, max_retries=3)
    pacer = EndpointPacer(limits)
    stats, results, _ = run_paced(provider, [f"r{i}" for i in range(400)], limits, pacer=pacer)
    assert all(results[i].ok for i in range(400))
    assert stats.throttled == 16 and stats.retries == 16
    # the first wave (16 in flight) was throttled; until its successors answer at t = 2,
    # at most half as many are in flight
    second_wave = [
        in_flight
        for start, in_flight in zip(provider.starts, provider.in_flight_at_start, strict=True)
        if 1.0 <= start < 2.0
    ]
    assert second_wave and max(second_wave) == 8
    assert max(provider.in_flight_at_start) == 16
    assert pacer.concurrency.limit == 16  # grown back while the endpoint kept up
    assert pacer.concurrency.in_flight == 0


def test_stats_count_throttled_answers():
    class Throttling(FlakyProvider):
        async def infer(self, batch):
            outcomes = await super().infer(batch)
            for outcome in outcomes:
                outcome.throttled = not outcome.ok
            return outcomes

    provider = Throttling(failures=1, max_retries=2)
    stats, results, _ = run(provider, ["a", "b"])
    assert stats.throttled == 2 and stats.retries == 2 and stats.errors == 0


def test_without_rate_limits_the_pacer_has_no_rate_limiter():
    assert EndpointPacer(EndpointLimits()).rate is None


def test_the_pacer_of_an_endpoint_outlives_a_run_until_its_limits_change():
    provider = FlakyProvider(failures=0)
    limits = EndpointLimits(max_concurrency=4, requests_per_minute=60)
    first = pacer_for(provider, limits)
    assert pacer_for(provider, limits) is first
    assert pacer_for(provider, EndpointLimits(max_concurrency=2)) is not first
    assert pacer_for(FlakyProvider(failures=0), limits) is not first
