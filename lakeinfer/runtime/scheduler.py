"""Streams requests through a provider with a bounded window in flight.

``concurrency`` workers pull batches from one shared iterator, so at most
``concurrency * max_batch`` requests are in flight and memory does not grow with the input;
there are no per-chunk barriers, so one slow request never stalls the others. Retryable
failures (429, 5xx, timeouts, resets) are retried with exponential backoff and full jitter,
honouring ``Retry-After``, up to the provider's ``max_retries``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from lakeinfer.endpoints.base import AIRequest, Outcome, Provider
from lakeinfer.runtime.limits import EndpointLimits

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

    def add(self, other: CallStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


async def run_requests(
    provider: Provider,
    items: Iterable[tuple[Hashable, AIRequest]],
    on_outcome: Callable[[Hashable, Outcome], None],
    *,
    limits: EndpointLimits | None = None,
    sleep: Callable[[float], object] = asyncio.sleep,
) -> CallStats:
    """Answer every ``(key, request)`` of ``items``; ``on_outcome(key, outcome)`` is called as
    each answer arrives (in completion order, on the loop thread). ``limits`` default to the
    provider's own (its declared concurrency and retry count)."""
    if limits is None:
        limits = EndpointLimits(
            max_concurrency=provider.capabilities.max_concurrency,
            max_retries=provider.max_retries,
        )
    stats = CallStats()
    batch_size = max(1, provider.capabilities.max_batch)
    workers = max(1, limits.max_concurrency)
    source: Iterator[tuple[Hashable, AIRequest]] = iter(items)

    async def worker() -> None:
        while True:
            chunk = list(islice(source, batch_size))
            if not chunk:
                return
            keys = [k for k, _ in chunk]
            requests = [r for _, r in chunk]
            outcomes = await _with_retries(provider, requests, stats, sleep, limits.max_retries)
            for key, outcome in zip(keys, outcomes, strict=True):
                stats.requests += 1
                stats.prompt_tokens += outcome.prompt_tokens
                stats.completion_tokens += outcome.completion_tokens
                if not outcome.ok:
                    stats.errors += 1
                on_outcome(key, outcome)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return stats


async def _with_retries(
    provider: Provider,
    requests: list[AIRequest],
    stats: CallStats,
    sleep: Callable[[float], object],
    max_retries: int,
) -> list[Outcome]:
    final: list[Outcome | None] = [None] * len(requests)
    pending = list(range(len(requests)))
    attempt = 0
    while pending:
        attempt += 1
        stats.calls += 1
        outcomes = await provider.infer([requests[i] for i in pending])
        retry: list[int] = []
        wait = 0.0
        for index, outcome in zip(pending, outcomes, strict=True):
            outcome.attempts = attempt
            if not outcome.ok and outcome.retryable and attempt <= max_retries:
                retry.append(index)
                wait = max(wait, outcome.retry_after or 0.0)
            else:
                if not outcome.ok and attempt > 1:
                    outcome.error = f"{outcome.error} (after {attempt} attempts)"
                final[index] = outcome
        if retry:
            stats.retries += len(retry)
            backoff = random.uniform(0, min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))
            await sleep(max(wait, backoff))
        pending = retry
    return [o for o in final if o is not None]
