"""The scheduler with an in-process provider and a fake clock (no real sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from lakeinfer.endpoints.base import AIRequest, Capabilities, Outcome, Provider
from lakeinfer.runtime.scheduler import run_requests


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
