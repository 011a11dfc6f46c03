"""Token buckets and the adaptive in-flight limit, on a fake clock (no real sleeps)."""

from __future__ import annotations

import asyncio

import pytest

from lakeinfer.runtime.limits import EndpointLimits
from lakeinfer.runtime.rate import (
    DEFAULT_OUTPUT_RESERVE,
    AdaptiveLimit,
    RateLimiter,
    TokenBucket,
    estimate_input_tokens,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_spaces_requests_asked_at_once_evenly_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(600, clock)  # 10 per second
    waits = [bucket.reserve(1) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_bucket_admits_at_the_configured_rate_over_time():
    clock = FakeClock()
    bucket = TokenBucket(1200, clock)  # 20 per second
    sent = []
    for _ in range(100):
        clock.now += bucket.reserve(1)  # a caller that sleeps as told, then sends
        sent.append(clock.now)
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    assert rate == pytest.approx(20.0)


def test_fresh_bucket_starts_without_a_burst_and_idle_one_saves_at_most_a_second():
    clock = FakeClock()
    bucket = TokenBucket(600, clock)
    assert bucket.reserve(1) == 0.0 and bucket.reserve(1) > 0.0
    clock.now += 3600  # idle for an hour
    assert bucket.level == pytest.approx(10.0)  # one second's worth, not an hour's
    immediate = sum(1 for _ in range(20) if bucket.reserve(1) == 0.0)
    assert immediate == 11  # the saved second plus the one that takes it into debt


def test_request_larger_than_the_bucket_is_admitted_and_the_next_waits_for_it():
    clock = FakeClock()
    bucket = TokenBucket(60, clock)  # 1 token per second
    assert bucket.reserve(30) == 0.0
    assert bucket.reserve(1) == pytest.approx(30.0)


def test_adjust_gives_back_what_was_not_used():
    clock = FakeClock()
    bucket = TokenBucket(60, clock)
    bucket.reserve(10)
    bucket.adjust(8)  # only 2 were used
    assert bucket.level == pytest.approx(-2.0)
    assert bucket.reserve(1) == pytest.approx(2.0)


def test_input_tokens_are_estimated_as_a_quarter_of_the_characters_rounded_up():
    assert estimate_input_tokens("") == 0
    assert estimate_input_tokens("abcd") == 1
    assert estimate_input_tokens("abcde") == 2


def test_output_reserve_is_max_tokens_else_the_default_and_nothing_for_embeddings():
    chat = RateLimiter(FakeClock(), output_tokens_per_minute=1000)
    assert chat.estimate(["x" * 10], [{"max_tokens": 5}]) == (3, 5)
    assert chat.estimate(["x" * 10], [{}]) == (3, DEFAULT_OUTPUT_RESERVE)
    embeddings = RateLimiter(FakeClock(), input_tokens_per_minute=1000, embeddings=True)
    assert embeddings.estimate(["abcd", "abcdefgh"], [{}, {}]) == (3, 0)


def test_settle_replaces_the_estimates_with_the_reported_usage():
    limiter = RateLimiter(FakeClock(), input_tokens_per_minute=60, output_tokens_per_minute=60)
    assert limiter.input_tokens is not None and limiter.output_tokens is not None
    limiter.reserve(10, 256)
    limiter.settle((10, 256), (12, 4), failed=False)
    assert limiter.input_tokens.level == pytest.approx(-12.0)
    assert limiter.output_tokens.level == pytest.approx(-4.0)


def test_a_failed_call_gives_its_output_reservation_back():
    limiter = RateLimiter(FakeClock(), output_tokens_per_minute=60)
    assert limiter.output_tokens is not None
    limiter.reserve(10, 256)
    limiter.settle((10, 256), None, failed=True)
    assert limiter.output_tokens.level == pytest.approx(0.0)


def test_the_slowest_budget_decides_the_wait():
    clock = FakeClock()
    limiter = RateLimiter(clock, requests_per_minute=6000, input_tokens_per_minute=60)
    assert limiter.reserve(5, 0) == 0.0
    assert limiter.reserve(5, 0) == pytest.approx(5.0)  # tokens, not requests, hold it back


def test_no_rate_configured_means_no_limiter():
    assert RateLimiter.from_limits(EndpointLimits(), FakeClock()) is None
    assert RateLimiter.from_limits(EndpointLimits(requests_per_minute=60), FakeClock()) is not None


def test_adaptive_limit_starts_at_the_maximum():
    limit = AdaptiveLimit(8)
    tickets = [limit.try_acquire() for _ in range(9)]
    assert tickets[:8] == [0] * 8 and tickets[8] == -1
    assert limit.in_flight == 8


def _round(limit: AdaptiveLimit, throttled: int, latency_s: float = 0.1) -> None:
    """One round of answers to calls sent at the current limit, ``throttled`` of them 429s."""
    tickets = [limit.try_acquire() for _ in range(limit.limit)]
    for n, ticket in enumerate(tickets):
        if n < throttled:
            limit.release(ticket, throttled=True)
        else:
            limit.release(ticket, success=True, latency_s=latency_s)


def test_adaptive_limit_halves_once_for_a_fully_throttled_round():
    limit = AdaptiveLimit(16)
    tickets = [limit.try_acquire() for _ in range(16)]
    for ticket in tickets:  # the whole wave is answered 429
        limit.release(ticket, throttled=True)
    assert limit.limit == 8  # one congestion signal for the round, not sixteen halvings
    ticket = limit.try_acquire()
    limit.release(ticket, throttled=True)  # one 429 of the next round decides nothing alone
    assert limit.limit == 8
    _round(limit, throttled=7)  # the rest of that round: all of it throttled
    assert limit.limit == 4


def test_adaptive_limit_backs_off_in_proportion_to_the_throttled_share():
    limit = AdaptiveLimit(64)
    before = limit.limit
    _round(limit, throttled=32, latency_s=1.0)  # half the round throttled
    assert limit.limit < before
    assert 64 * 0.75 - 1 <= limit.limit <= 64 * 0.75 + 64 * 0.05 + 1


def test_stray_429s_do_not_collapse_the_limit():
    limit = AdaptiveLimit(64)
    for _ in range(50):  # 10% of every round throttled, latency steady
        _round(limit, throttled=limit.limit // 10)
    assert limit.limit >= 56


def test_adaptive_limit_never_goes_below_one():
    limit = AdaptiveLimit(4)
    for _ in range(10):
        limit.release(limit.try_acquire(), throttled=True)
    assert limit.limit == 1


def test_adaptive_limit_grows_back_while_latency_holds_up_to_the_maximum():
    limit = AdaptiveLimit(64)
    _round(limit, throttled=64)
    assert limit.limit == 32
    rounds = 0
    while limit.limit < 64:
        _round(limit, throttled=0)
        rounds += 1
    assert rounds <= 8  # by a tenth of the limit per round, not one call per round
    _round(limit, throttled=0)
    assert limit.limit == 64 and limit.in_flight == 0


def test_adaptive_limit_grows_by_one_per_round_while_latency_rises():
    limit = AdaptiveLimit(64, window=8)
    _round(limit, throttled=64)
    assert limit.limit == 32
    latency = 0.1
    for _ in range(8):  # a round that sets the latency to hold
        limit.release(limit.try_acquire(), success=True, latency_s=latency)
    for _ in range(4):
        before = limit.limit
        latency *= 2  # the endpoint is queueing: more in flight only waits longer
        for _ in range(8):
            limit.release(limit.try_acquire(), success=True, latency_s=latency)
        assert limit.limit == before + 1


def test_adaptive_limit_makes_callers_wait_and_wakes_them_in_order():
    async def scenario() -> list[int]:
        limit = AdaptiveLimit(2)
        held = [limit.try_acquire(), limit.try_acquire()]
        woken: list[int] = []

        async def caller(n: int) -> None:
            ticket = await limit.acquire()
            woken.append(n)
            limit.release(ticket, success=True)

        waiting = [asyncio.ensure_future(caller(n)) for n in range(3)]
        await asyncio.sleep(0)
        assert woken == [] and limit.in_flight == 2
        for ticket in held:
            limit.release(ticket, success=True)
        await asyncio.gather(*waiting)
        assert limit.in_flight == 0
        return woken

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_a_cancelled_waiter_does_not_leak_a_slot():
    async def scenario() -> int:
        limit = AdaptiveLimit(1)
        ticket = limit.try_acquire()
        waiter = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        limit.release(ticket)
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return limit.in_flight

    assert asyncio.run(scenario()) == 0
