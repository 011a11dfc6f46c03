"""Streams requests through a provider, paced to what the endpoint allows.

``max_concurrency`` workers pull batches from one shared iterator, so at most
``max_concurrency * max_batch`` requests are in flight and memory does not grow with the input;
there are no per-chunk barriers, so one slow request never stalls the others. Each call

* waits for a slot of the endpoint's :class:`~lakeinfer.runtime.rate.AdaptiveLimit` (halved
  when the endpoint throttles, grown back while it keeps up),
* waits for its share of the per-minute budgets (requests, input and output tokens), when any
  is set,
* gets ``timeout_s`` to answer, after which it counts as a retryable failure; a provider whose
  answer streams in reports progress (:func:`lakeinfer.runtime.deadlines.made_progress`), and
  its call then times out only after ``timeout_s`` without progress or at the overall cap
  ``max_request_s`` (not retried: it would redo the same work).

Retryable failures (429, 5xx, timeouts, resets) are retried after the ``Retry-After`` the
endpoint asked for, else with exponential backoff and full jitter, up to ``max_retries`` times.
A failure that taught something about the request (``Outcome.retry_parameters``: an answer cut
off while repeating itself is asked again with a repetition penalty) is retried with those
parameters, never as the same request again.
An endpoint that keeps failing as a whole trips its :class:`~lakeinfer.runtime.breaker.
CircuitBreaker`, after which its calls are refused at once until a probe succeeds.

A run stops as soon as ``on_outcome`` raises (a statement that fails on its first error): no
more requests are taken, the calls in flight are cancelled and the exception propagates.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from weakref import WeakKeyDictionary

from lakeinfer.endpoints.base import AIRequest, Outcome, Provider
from lakeinfer.errors import StatementCancelledError
from lakeinfer.redaction import redact_outcome
from lakeinfer.runtime.breaker import CLOSED, FAILURE_THRESHOLD, CircuitBreaker
from lakeinfer.runtime.cancel import CancelToken
from lakeinfer.runtime.deadlines import CAPPED, STALLED, Deadlines
from lakeinfer.runtime.limits import EndpointLimits
from lakeinfer.runtime.rate import AdaptiveLimit, Clock, RateLimiter

BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0


@dataclass
class CallStats:
    """What one run of the scheduler cost."""

    calls: int = 0  # provider invocations that carried requests (HTTP requests for chat)
    requests: int = 0
    errors: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the endpoint took from its prompt cache
    throttled: int = 0  # answers that were a 429/503/529 (each attempt counts)
    timeouts: int = 0  # attempts that got no answer within timeout_s
    # prompt packing (lakeinfer.engine.packing): calls that carried several rows, those rows,
    # rows of a failed or malformed pack sent again alone, and prompt tokens saved
    packed_calls: int = 0
    packed_rows: int = 0
    pack_splits: int = 0
    prompt_tokens_saved: int = 0

    def add(self, other: CallStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class EndpointPacer:
    """How calls to one endpoint are paced: its rate budgets, its adaptive concurrency and its
    circuit breaker.

    It outlives a run on purpose: the next statement against the same endpoint starts with the
    budget left over, the concurrency the endpoint was last found to bear, and a circuit that
    stays open while the endpoint is down.
    """

    def __init__(
        self,
        limits: EndpointLimits,
        *,
        embeddings: bool = False,
        clock: Clock = time.monotonic,
        window: int | None = None,
        name: str = "endpoint",
        breaker: bool = True,
    ):
        """``breaker``: whether the endpoint's failures may open its circuit."""
        self.limits = limits
        self.rate = RateLimiter.from_limits(limits, clock, embeddings)
        self.concurrency = AdaptiveLimit(limits.max_concurrency, window)
        # a whole window of calls failing in a row, not a few unlucky ones among many in
        # flight, is what says the endpoint is down
        threshold = max(FAILURE_THRESHOLD, limits.max_concurrency)
        self.breaker = CircuitBreaker(name, threshold=threshold, clock=clock, enabled=breaker)


_PACERS: WeakKeyDictionary[Provider, EndpointPacer] = WeakKeyDictionary()


def pacer_for(provider: Provider, limits: EndpointLimits) -> EndpointPacer:
    """The pacer of ``provider`` for ``limits``; it lives as long as the provider (one per
    endpoint and session) and starts afresh when the limits change."""
    pacer = _PACERS.get(provider)
    if pacer is None or pacer.limits != limits:
        embeddings = provider.capabilities.task == "embeddings"
        pacer = EndpointPacer(
            limits, embeddings=embeddings, name=provider.name, breaker=provider.circuit_breaker
        )
        _PACERS[provider] = pacer
    return pacer


async def run_requests(
    provider: Provider,
    items: Iterable[tuple[Hashable, AIRequest]],
    on_outcome: Callable[[Hashable, Outcome], None],
    *,
    limits: EndpointLimits | None = None,
    sleep: Callable[[float], object] = asyncio.sleep,
    clock: Clock | None = None,
    pacer: EndpointPacer | None = None,
    cancel: CancelToken | None = None,
    stats: CallStats | None = None,
) -> CallStats:
    """Answer every ``(key, request)`` of ``items``; ``on_outcome(key, outcome)`` is called as
    each answer arrives (in completion order, on the loop thread).

    ``limits`` default to the provider's own (its declared concurrency, timeout and retry
    count). ``sleep`` and ``clock`` drive every wait (rate budgets, backoff); tests pass fakes.
    ``pacer`` defaults to the provider's shared one (:func:`pacer_for`), or a fresh one on
    ``clock`` when a clock is given. ``cancel``: when set, the calls in flight are cancelled,
    no more are made and :class:`~lakeinfer.errors.StatementCancelledError` is raised.
    ``stats``: counted into as calls are made (so a caller knows what a run that was stopped
    or interrupted cost); a fresh one by default. Returns it.
    """
    if limits is None:
        limits = EndpointLimits(
            max_concurrency=provider.capabilities.max_concurrency,
            max_retries=provider.max_retries,
            timeout_s=provider.timeout_s,
        )
    if pacer is None:
        if clock is None:
            pacer = pacer_for(provider, limits)
        else:
            embeddings = provider.capabilities.task == "embeddings"
            pacer = EndpointPacer(
                limits,
                embeddings=embeddings,
                clock=clock,
                name=provider.name,
                breaker=provider.circuit_breaker,
            )
    if stats is None:
        stats = CallStats()
    batch_size = max(1, provider.capabilities.max_batch)
    workers = max(1, limits.max_concurrency)
    source: Iterator[tuple[Hashable, AIRequest]] = iter(items)
    deadlines = Deadlines(limits.timeout_s, limits.max_request_s) if limits.timeout_s else None
    call = _Caller(provider, pacer, stats, sleep, deadlines, limits.max_retries)

    def account(key: Hashable, outcome: Outcome) -> None:
        redact_outcome(outcome)  # whatever the endpoint echoed, no key goes further
        stats.requests += 1
        stats.prompt_tokens += outcome.prompt_tokens
        stats.completion_tokens += outcome.completion_tokens
        stats.cached_tokens += outcome.cached_tokens
        if outcome.error is not None:
            stats.errors += 1
        on_outcome(key, outcome)

    async def worker() -> None:
        if batch_size == 1:  # chat over HTTP: the hot path, one request per call
            for key, request in source:
                (outcome,) = await call.with_retries([request])
                account(key, outcome)
            return
        while True:
            chunk = list(islice(source, batch_size))
            if not chunk:
                return
            keys = [k for k, _ in chunk]
            requests = [r for _, r in chunk]
            outcomes = await call.with_retries(requests)
            for key, outcome in zip(keys, outcomes, strict=True):
                account(key, outcome)

    tasks = [asyncio.ensure_future(worker()) for _ in range(workers)]
    running = asyncio.gather(*tasks)
    unregister = None
    if cancel is not None:
        loop = asyncio.get_running_loop()
        unregister = cancel.on_cancel(lambda: loop.call_soon_threadsafe(running.cancel))
    try:
        await running
    except asyncio.CancelledError:
        if cancel is None or not cancel.cancelled:
            raise
        raise StatementCancelledError(stats=stats) from None
    except BaseException:
        # on_outcome ended the run: take no more requests and cancel the calls in flight
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        if unregister is not None:
            unregister()
        if deadlines is not None:
            await deadlines.close()
    return stats


class _Caller:
    """One run's way of making a call: slot, budget, deadline, retries."""

    def __init__(
        self,
        provider: Provider,
        pacer: EndpointPacer,
        stats: CallStats,
        sleep: Callable[[float], object],
        deadlines: Deadlines | None,
        max_retries: int,
    ):
        self.provider = provider
        self.concurrency = pacer.concurrency
        self.rate = pacer.rate
        self.breaker = pacer.breaker
        self.stats = stats
        self.sleep = sleep
        self.deadlines = deadlines
        self.max_retries = max_retries

    async def with_retries(self, requests: list[AIRequest]) -> list[Outcome]:
        final: list[Outcome | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        attempt = 0
        while pending:
            attempt += 1
            outcomes = await self.attempt([requests[i] for i in pending])
            retry: list[int] = []
            wait: float | None = None  # what the endpoint asked for (Retry-After)
            for index, outcome in zip(pending, outcomes, strict=True):
                outcome.attempts = attempt
                if outcome.error is None:
                    final[index] = outcome
                elif outcome.retryable and attempt <= self.max_retries:
                    if outcome.retry_parameters:
                        requests[index] = _relearned(requests[index], outcome.retry_parameters)
                    # what the failed attempt generated was spent all the same
                    self.stats.prompt_tokens += outcome.prompt_tokens
                    self.stats.completion_tokens += outcome.completion_tokens
                    retry.append(index)
                    if outcome.retry_after is not None:
                        wait = max(wait or 0.0, outcome.retry_after)
                else:
                    plural = "attempt" if attempt == 1 else "attempts"
                    outcome.error = f"{outcome.error} (after {attempt} {plural})"
                    final[index] = outcome
            if retry:
                self.stats.retries += len(retry)
                if wait is None:
                    cap = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
                    wait = random.uniform(0, cap)
                await self.sleep(wait)
            pending = retry
        return [o for o in final if o is not None]

    async def attempt(self, batch: list[AIRequest]) -> list[Outcome]:
        """One provider call: pass the breaker, take a slot, wait for the budget, answer within
        the deadline."""
        breaker = self.breaker
        probe = False
        if breaker.state != CLOSED:
            probe, refusal = await breaker.admit()
            if refusal is not None:
                return [Outcome(error=refusal) for _ in batch]
        concurrency = self.concurrency
        try:
            ticket = concurrency.try_acquire()
            if ticket < 0:
                ticket = await concurrency.acquire()
        except BaseException:
            breaker.abandon(probe)
            raise
        throttled = success = False
        elapsed: float | None = None
        answered = False
        try:
            rate = self.rate
            if rate is not None:
                reserved = rate.estimate([r.payload for r in batch], [r.parameters for r in batch])
                delay = rate.reserve(*reserved)
                if delay > 0:
                    await self.sleep(delay)
            self.stats.calls += 1
            started = time.monotonic()
            deadlines = self.deadlines
            if deadlines is None:
                outcomes = await self.provider.infer(batch)
            else:
                # inline rather than a helper coroutine: this runs once per request
                task = asyncio.current_task()
                assert task is not None
                token = deadlines.start(task)
                try:
                    outcomes = await self.provider.infer(batch)
                except asyncio.CancelledError:
                    why = deadlines.expired.pop(task, None)
                    if why is None:
                        raise
                    if task.uncancel() > 0:
                        raise  # cancelled from outside as well
                    outcomes = [_timed_out(deadlines, why) for _ in batch]
                finally:
                    deadlines.finish(task, token)
            elapsed = time.monotonic() - started
            for outcome in outcomes:
                outcome.latency_s = elapsed
                if outcome.error is None:
                    success = True
                else:
                    if outcome.throttled:
                        throttled = True
                        self.stats.throttled += 1
                    if outcome.timed_out:
                        self.stats.timeouts += 1
            if rate is not None:
                rate.settle_outcomes(reserved, outcomes, success)
            breaker.record(outcomes, probe)
            answered = True
            return outcomes
        finally:
            if not answered:
                breaker.abandon(probe)
            concurrency.release(ticket, throttled, success and not throttled, elapsed)


def _timed_out(deadlines: Deadlines, why: str) -> Outcome:
    """The outcome of a call cut off by its deadline: no progress within ``timeout_s`` (the
    endpoint may be stuck: retryable), or still answering at the overall cap (asking again
    would redo the same work: not retried)."""
    if why == CAPPED:
        cap = deadlines.max_request_s
        message = (
            f"timed out after {cap:g}s while the answer was still arriving (max_request_s); "
            f"raise it with SET lakeinfer.max_request_s = {2 * cap:g}, or bound the answer "
            "with max_tokens"
        )
        return Outcome(error=message, retryable=False, timed_out=True)
    if why == STALLED:
        message = f"timed out: no new token for {deadlines.timeout_s:g}s"
        return Outcome(error=message, retryable=True, timed_out=True)
    return Outcome(
        error=f"timed out after {deadlines.timeout_s:g}s", retryable=True, timed_out=True
    )


def _relearned(request: AIRequest, parameters: dict[str, object]) -> AIRequest:
    """``request`` with what its failed attempt taught (e.g. a repetition penalty)."""
    return AIRequest(request.payload, {**request.parameters, **parameters}, request.lane)
