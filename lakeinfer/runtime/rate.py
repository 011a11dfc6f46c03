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


class AdaptiveLimit:
    """How many calls may be in flight, adapted to the endpoint (AIMD).

    It starts at ``maximum``. A throttled answer (429/503/529) halves the limit (never below 1),
    once per congestion event: answers to calls sent before the last decrease do not halve it
    again. Every ``window`` answers that were not throttled raise it by one, never above
    ``maximum``; ``window`` defaults to the current limit, i.e. one step per round of answers.

    :meth:`try_acquire` is the cheap path (no coroutine) and returns a ticket, or -1 when the
    caller must ``await`` :meth:`acquire`; pass the ticket back to :meth:`release`.
    """

    def __init__(self, maximum: int, window: int | None = None):
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.window = window
        self.in_flight = 0
        self._epoch = 0  # bumped on each decrease
        self._successes = 0
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

    def release(self, ticket: int, throttled: bool = False, success: bool = False) -> None:
        """Give the slot back, saying how the call went."""
        if throttled:
            self._successes = 0
            if ticket == self._epoch:
                self._epoch += 1
                self.limit = max(1, self.limit // 2)
        elif success and self.limit < self.maximum:
            self._successes += 1
            if self._successes >= (self.window or self.limit):
                self._successes = 0
                self.limit += 1
        self.in_flight -= 1
        if self._waiters:
            self._wake()

    def _release_slot(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
