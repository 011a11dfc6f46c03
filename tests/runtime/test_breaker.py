"""The circuit breaker of an endpoint and a run that stops on its first fatal answer, on
virtual time (tests.runtime.virtual_time: no real sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from lakeinfer.endpoints.base import AIRequest, Capabilities, Outcome, Provider
from lakeinfer.runtime.breaker import COOLDOWN_S, FAILURE_THRESHOLD, CircuitBreaker
from lakeinfer.runtime.limits import EndpointLimits
from lakeinfer.runtime.scheduler import CallStats, EndpointPacer, run_requests
from tests.runtime.virtual_time import run_virtual

UNREACHABLE = Outcome(error="cannot reach http://127.0.0.1:9/v1: refused", retryable=True)
THROTTLED = Outcome(error="HTTP 429", retryable=True, throttled=True, status=429, retry_after=0.1)


class ScriptedProvider(Provider):
    """Answers after ``latency`` seconds with ``answer(now)`` (None: a normal answer)."""

    def __init__(self, answer: Callable[[float], Outcome | None], latency: float = 0.1):
        self.name = "scripted"
        self.capabilities = Capabilities(task="chat", max_concurrency=4)
        self.answer = answer
        self.latency = latency
        self.calls = 0
        self.in_flight = 0

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        self.calls += 1
        self.in_flight += 1
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        scripted = self.answer(asyncio.get_running_loop().time())
        if scripted is not None:
            return [Outcome(error=scripted.error, **_flags(scripted)) for _ in batch]
        return [Outcome(value=r.payload) for r in batch]


def _flags(outcome: Outcome) -> dict:
    return {
        "retryable": outcome.retryable,
        "throttled": outcome.throttled,
        "status": outcome.status,
        "retry_after": outcome.retry_after,
    }


LIMITS = EndpointLimits(max_concurrency=4, max_retries=3)


async def _run(provider: Provider, count: int, pacer: EndpointPacer, **options) -> dict:
    results: dict[int, Outcome] = {}
    await run_requests(
        provider,
        [(i, AIRequest(f"r{i}")) for i in range(count)],
        results.__setitem__,
        limits=LIMITS,
        pacer=pacer,
        **options,
    )
    return results


def test_a_dead_endpoint_opens_the_circuit_and_the_rest_fail_at_once():
    provider = ScriptedProvider(lambda now: UNREACHABLE)

    async def main():
        pacer = EndpointPacer(LIMITS, clock=asyncio.get_running_loop().time, name="dead")
        return await _run(provider, 200, pacer)

    results = run_virtual(main())
    assert provider.calls <= 2 * LIMITS.max_concurrency  # not 200 rows x 4 attempts
    errors = [results[i].error or "" for i in range(200)]
    assert all("refused" in e for e in errors)
    opened = [e for e in errors if e.startswith("endpoint 'dead' is unavailable (circuit open")]
    assert len(opened) >= 200 - LIMITS.max_concurrency
    assert f"after {FAILURE_THRESHOLD} consecutive failures: cannot reach" in opened[0]


def test_the_circuit_half_opens_after_the_cooldown_and_a_good_probe_closes_it():
    up_at = 2.0
    provider = ScriptedProvider(lambda now: UNREACHABLE if now < up_at else None)

    async def main():
        pacer = EndpointPacer(LIMITS, clock=asyncio.get_running_loop().time, name="flaky")
        first = await _run(provider, 50, pacer)
        calls = provider.calls
        refused = await _run(provider, 10, pacer)  # still within the cooldown: no call
        assert provider.calls == calls
        await asyncio.sleep(COOLDOWN_S)
        second = await _run(provider, 50, pacer)
        return first, refused, second, calls

    first, refused, second, calls = run_virtual(main())
    assert all(not o.ok for o in first.values())
    assert all("is unavailable" in (o.error or "") for o in refused.values())
    assert all(o.ok for o in second.values())
    assert provider.calls == calls + 50


def test_a_failed_probe_opens_the_circuit_again_for_longer():
    clock = [0.0]
    breaker = CircuitBreaker("e", clock=lambda: clock[0])

    async def main() -> None:
        for _ in range(FAILURE_THRESHOLD):
            assert await breaker.admit() == (False, None)
            breaker.record([UNREACHABLE], probe=False)
        assert breaker.state == "open"
        clock[0] = COOLDOWN_S
        assert await breaker.admit() == (True, None)  # the probe
        breaker.record([UNREACHABLE], probe=True)
        clock[0] = 2 * COOLDOWN_S
        probe, refusal = await breaker.admit()
        assert not probe and refusal is not None  # twice the cooldown now
        clock[0] = 3 * COOLDOWN_S
        assert await breaker.admit() == (True, None)
        breaker.record([Outcome(value="ok")], probe=True)
        assert breaker.state == "closed" and breaker.cooldown_s == COOLDOWN_S

    asyncio.run(main())


def test_throttling_and_row_errors_do_not_trip_the_breaker():
    answers = [THROTTLED, Outcome(error="HTTP 400 bad row", status=400)]
    provider = ScriptedProvider(lambda now: answers[int(now * 10) % 2])

    async def main():
        pacer = EndpointPacer(LIMITS, clock=asyncio.get_running_loop().time, name="busy")
        return await _run(provider, 40, pacer), pacer

    results, pacer = run_virtual(main())
    assert pacer.breaker.state == "closed"
    assert not any("unavailable" in (o.error or "") for o in results.values())


def test_a_run_stops_on_the_first_answer_its_caller_refuses():
    provider = ScriptedProvider(lambda now: None, latency=1.0)
    stats = CallStats()

    class Refused(Exception):
        pass

    def on_outcome(key, outcome):
        raise Refused(key)

    async def main():
        pacer = EndpointPacer(LIMITS, clock=asyncio.get_running_loop().time)
        await run_requests(
            provider,
            [(i, AIRequest(f"r{i}")) for i in range(100)],
            on_outcome,
            limits=LIMITS,
            pacer=pacer,
            stats=stats,
        )

    with pytest.raises(Refused):
        run_virtual(main())
    assert provider.calls == LIMITS.max_concurrency  # the first wave only
    assert provider.in_flight == 0  # the rest of the wave was cancelled
    assert stats.calls == LIMITS.max_concurrency and 1 <= stats.requests <= stats.calls


def test_a_provider_that_recovers_by_itself_keeps_its_circuit_closed():
    up_at = 1.0
    provider = ScriptedProvider(lambda now: UNREACHABLE if now < up_at else None)
    provider.circuit_breaker = False  # e.g. a managed server started again when it dies

    async def main():
        return await run_requests(
            provider,
            [(i, AIRequest(f"r{i}")) for i in range(20)],
            lambda key, outcome: None,
            limits=EndpointLimits(max_concurrency=4, max_retries=8),
            clock=asyncio.get_running_loop().time,
        )

    stats = run_virtual(main())
    assert stats.errors == 0 and stats.requests == 20  # retried until the endpoint was back
