"""Pacing for one endpoint: rate budgets as token buckets, and an adaptive in-flight limit.

Both are driven by the scheduler on one event loop. They never sleep themselves: a bucket says
how long to wait (against an injectable clock) and the caller sleeps, so tests run on a fake
clock without real sleeps.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from lakeinfer.endpoints.base import Outcome
from lakeinfer.runtime.limits import EndpointLimits

#: Seconds' worth of budget a bucket may save up while idle (the largest burst it allows).
BURST_S = 1.0
#: Output tokens reserved for a chat request that does not set ``max_tokens``.
DEFAULT_OUTPUT_RESERVE = 256

Clock = Callable[[], float]


class TokenBucket:
    """A budget of ``per_minute`` units, refilled continuously, that may run into debt.

    :meth:`reserve` takes the units at once and returns how long the caller must wait before
    using them: zero while the bucket is not in debt, else the time to pay the debt back. So
    requests are spaced evenly at the configured rate in the order they asked (first come, first
    served), one larger than the whole bucket is still admitted (it waits longer), and an idle
    bucket saves up at most ``burst_s`` seconds' worth. A fresh bucket holds nothing saved,
    so a run starts smoothly rather than with a burst.
    """

    def __init__(self, per_minute: float, clock: Clock, burst_s: float = BURST_S):
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.capacity = self.rate * burst_s
        self._clock = clock
        self._level = 0.0
        self._updated = clock()

    def _refill(self) -> float:
        now = self._clock()
        level = self._level + (now - self._updated) * self.rate
        self._level = level if level < self.capacity else self.capacity
        self._updated = now
        return self._level

    @property
    def level(self) -> float:
        """Units available now (negative while in debt)."""
        return self._refill()

    def reserve(self, amount: float) -> float:
        """Take ``amount`` units; returns the seconds to wait before spending them."""
        level = self._refill()
        self._level = level - amount
        return -level / self.rate if level < 0 else 0.0

    def adjust(self, delta: float) -> None:
        """Give back (``delta`` > 0) or take more (``delta`` < 0) once the real cost is known."""
        self._level = min(self.capacity, self._refill() + delta)


class RateLimiter:
    """The per-minute budgets of one endpoint: requests, input tokens and output tokens.

    Input tokens are estimated before sending as ``ceil(len(text) / 4)`` of each payload;
    output tokens are reserved as the request's ``max_tokens`` (else 256) for chat, nothing
    for embeddings. :meth:`settle` replaces the estimates with the usage the endpoint reports.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        requests_per_minute: float | None = None,
        input_tokens_per_minute: float | None = None,
        output_tokens_per_minute: float | None = None,
        embeddings: bool = False,
    ):
        def bucket(per_minute: float | None) -> TokenBucket | None:
            return TokenBucket(per_minute, clock) if per_minute else None

        self.requests = bucket(requests_per_minute)
        self.input_tokens = bucket(input_tokens_per_minute)
        self.output_tokens = bucket(output_tokens_per_minute)
        self.embeddings = embeddings

    @classmethod
    def from_limits(
        cls, limits: EndpointLimits, clock: Clock, embeddings: bool = False
    ) -> RateLimiter | None:
        """A limiter for ``limits``, or None when no rate is set."""
        if not (
            limits.requests_per_minute
            or limits.input_tokens_per_minute
            or limits.output_tokens_per_minute
        ):
            return None
        return cls(
            clock,
            requests_per_minute=limits.requests_per_minute,
            input_tokens_per_minute=limits.input_tokens_per_minute,
            output_tokens_per_minute=limits.output_tokens_per_minute,
            embeddings=embeddings,
        )

    def estimate(self, payloads: Sequence[Any], parameters: Sequence[dict]) -> tuple[int, int]:
        """Estimated ``(input, output)`` tokens of one call carrying these requests."""
        tokens_in = sum(estimate_input_tokens(p) for p in payloads)
        if self.embeddings:
            return tokens_in, 0
        tokens_out = 0
        for params in parameters:
            limit = params.get("max_tokens")
            tokens_out += int(limit) if isinstance(limit, int | float) else DEFAULT_OUTPUT_RESERVE
        return tokens_in, tokens_out

    def reserve(self, tokens_in: int, tokens_out: int) -> float:
        """Take one request and the estimated tokens; returns the seconds to wait first."""
        wait = 0.0
        if self.requests is not None:
            wait = self.requests.reserve(1)
        if self.input_tokens is not None:
            wait = max(wait, self.input_tokens.reserve(tokens_in))
        if self.output_tokens is not None:
            wait = max(wait, self.output_tokens.reserve(tokens_out))
        return wait

    def settle(self, reserved: tuple[int, int], used: tuple[int, int] | None, failed: bool) -> None:
        """Correct the token buckets once the answer is in.

        ``used`` is the reported ``(prompt, completion)`` usage, None when the endpoint reported
        none (the estimates stand). A failed call produced no output, so its output reservation
        is given back; its input is kept, as the endpoint may have counted it.
        """
        if used is not None:
            if self.input_tokens is not None:
                self.input_tokens.adjust(reserved[0] - used[0])
            if self.output_tokens is not None:
                self.output_tokens.adjust(reserved[1] - used[1])
        elif failed and self.output_tokens is not None:
            self.output_tokens.adjust(reserved[1])

    def settle_outcomes(
        self, reserved: tuple[int, int], outcomes: Sequence[Outcome], success: bool
    ) -> None:
        """:meth:`settle` with the usage reported by the successful ``outcomes`` of a call."""
        used_in = used_out = 0
        for outcome in outcomes:
            if outcome.error is None:
                used_in += outcome.prompt_tokens
                used_out += outcome.completion_tokens
        self.settle(reserved, (used_in, used_out) if used_in or used_out else None, not success)


def estimate_input_tokens(payload: Any) -> int:
    """About four characters per token, rounded up (the usual estimate for English text)."""
    text = payload if isinstance(payload, str) else str(payload)
    return math.ceil(len(text) / 4)


#: Growth per round of answers while the endpoint keeps its latency (a share of the limit).
GROWTH = 0.1
#: Latency "holds" while a round's mean is at most this multiple of the best round seen.
LATENCY_SLACK = 1.5
#: How fast the best round's latency is forgotten (per round), so a lasting change is learnt.
BASELINE_DRIFT = 1.02


class AdaptiveLimit:
    """How many calls may be in flight, adapted to the endpoint (AIMD, one decision per round).

    It starts at ``maximum``. Decisions are taken once per round: ``window`` answers (default:
    the current limit) to calls sent since the last decision, i.e. about one round trip, so one
    burst of 429s counts as one congestion signal, not one per throttled call. At the end of a
    round with a share ``s`` of throttled answers (429/503/529) the limit becomes
    ``limit * (1 - s/2)``: a fully throttled round halves it, a few stray 429s barely move it.
    While the round's mean latency holds (within ``LATENCY_SLACK`` of the best round seen) it
    also grows by ``GROWTH * (1 - s)`` of itself (at least one call in a round without
    throttling); when latency rises it grows by one call per clean round. It never leaves
    ``[1, maximum]``. So random throttling of a few percent keeps the limit near the maximum,
    while an endpoint that throttles a large share is backed off until it stops.

    :meth:`try_acquire` is the cheap path (no coroutine) and returns a ticket, or -1 when the
    caller must ``await`` :meth:`acquire`; pass the ticket back to :meth:`release`.
    """

    def __init__(self, maximum: int, window: int | None = None):
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.window = window
        self.in_flight = 0
        self._epoch = 0  # bumped on each decision: older tickets belong to a past round
        self._target = float(self.maximum)
        self._answers = 0
        self._throttled = 0
        self._latency_sum = 0.0
        self._latency_n = 0
        self._baseline: float | None = None  # the best round's mean latency
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> int:
        """Take a slot if one is free now; returns the ticket, or -1."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return self._epoch
        return -1

    async def acquire(self) -> int:
        """Wait for a slot (first come, first served); returns the ticket."""
        ticket = self.try_acquire()
        if ticket >= 0:
            return ticket
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # the slot was handed over as we were cancelled
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        return self._epoch

    def release(
        self,
        ticket: int,
        throttled: bool = False,
        success: bool = False,
        latency_s: float | None = None,
    ) -> None:
        """Give the slot back, saying how the call went (``latency_s``: how long it took)."""
        if ticket == self._epoch and (throttled or success):
            self._answers += 1
            if throttled:
                self._throttled += 1
            elif latency_s is not None:
                self._latency_sum += latency_s
                self._latency_n += 1
            if self._answers >= (self.window or self.limit):
                self._decide()
        self.in_flight -= 1
        if self._waiters:
            self._wake()

    def _decide(self) -> None:
        """End a round: back off by the throttled share, grow while latency holds."""
        share = self._throttled / self._answers
        holds = True
        if self._latency_n:
            mean = self._latency_sum / self._latency_n
            baseline = self._baseline
            holds = baseline is None or mean <= baseline * LATENCY_SLACK
            self._baseline = mean if baseline is None else min(mean, baseline * BASELINE_DRIFT)
        target = self._target * (1 - share / 2)
        if holds:
            target += self._target * GROWTH * (1 - share)
        if share == 0:
            target = max(target, self._target + 1)
        self._target = min(float(self.maximum), max(1.0, target))
        self.limit = max(1, int(self._target))
        self._epoch += 1
        self._answers = self._throttled = self._latency_n = 0
        self._latency_sum = 0.0

    def _release_slot(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
