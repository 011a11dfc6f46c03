"""Progress of AI work: the terminal bar, and an observer hook for live views.

The bar (requests done / total, requests per second, errors) is shown on stderr only when it is a
terminal (or when asked), and only for work that lasts more than a second, so quick statements and
scripts piping the output stay quiet. A :class:`ProgressObserver` (such as :class:`LiveProgress`,
used by the web workspace) is told of every answer, with its tokens and retries, as it arrives.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import IO, Protocol

from lakeinfer.endpoints.base import Outcome

#: seconds of work before the bar appears
SHOW_AFTER_S = 1.0


class Progress:
    """Counts answered requests and failures for one batch of model calls."""

    def __init__(
        self, total: int, label: str, enabled: bool | None = None, file: IO[str] | None = None
    ):
        from tqdm import tqdm  # on first use: most statements call no model

        file = file or sys.stderr
        show = enabled if enabled is not None else file.isatty()
        self.errors = 0
        self._bar = tqdm(
            total=total,
            desc=label,
            unit="req",
            file=file,
            disable=not show,
            delay=SHOW_AFTER_S,
            leave=False,
            dynamic_ncols=True,
        )

    def advance(self, ok: bool) -> None:
        """One request finished (``ok``: with an answer)."""
        if not ok:
            self.errors += 1
            self._bar.set_postfix(errors=self.errors, refresh=False)
        self._bar.update(1)

    def status(self, text: str) -> None:
        """Show what the work is waiting for (a batch's status) beside the count."""
        self._bar.set_postfix_str(text, refresh=not self._bar.disable)

    def grow(self, requests: int) -> None:
        """More requests to come (the next batch of a streamed statement)."""
        self._bar.total += requests
        if not self._bar.disable:
            self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


class ProgressObserver(Protocol):
    """Told about the model calls of a statement as they happen (on the runtime's threads, so
    implementations must be thread-safe and quick)."""

    def on_requests(self, endpoint: str, total: int, cached: int) -> None:
        """An ``ai_query`` call site needs ``total`` distinct answers, ``cached`` of them
        found in the response cache (the rest are about to be requested)."""

    def on_outcome(self, endpoint: str, outcome: Outcome) -> None:
        """One request was answered (or failed for good, after its retries)."""


@dataclass
class ProgressSnapshot:
    """Where the AI work of a run stands; ``cost_usd`` is None when no price is configured."""

    total: int = 0
    done: int = 0
    cached: int = 0
    errors: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    elapsed_s: float = 0.0
    rows_per_s: float = 0.0
    endpoints: list[str] = field(default_factory=list)


class LiveProgress:
    """A :class:`ProgressObserver` that adds everything up for a live view.

    ``prices(endpoint)`` gives USD per million input and output tokens (None when unknown), as
    :meth:`lakeinfer.endpoints.registry.EndpointRegistry.prices_of` does. Rows per second count
    answered requests (cache hits excluded) over the time since the first call site started.
    """

    def __init__(
        self,
        prices: Callable[[str], tuple[float | None, float | None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._prices = prices
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._stopped: float | None = None
        self._state = ProgressSnapshot()
        self._cost: dict[str, float] = {}

    def on_requests(self, endpoint: str, total: int, cached: int) -> None:
        with self._lock:
            if self._started is None:
                self._started = self._clock()
            state = self._state
            state.total += total
            state.done += cached
            state.cached += cached
            if endpoint not in state.endpoints:
                state.endpoints.append(endpoint)

    def on_outcome(self, endpoint: str, outcome: Outcome) -> None:
        with self._lock:
            state = self._state
            state.done += 1
            state.errors += 0 if outcome.ok else 1
            state.retries += max(0, outcome.attempts - 1)
            state.prompt_tokens += outcome.prompt_tokens
            state.completion_tokens += outcome.completion_tokens
            price_in, price_out = self._prices(endpoint) if self._prices else (None, None)
            if price_in is not None or price_out is not None:
                self._cost[endpoint] = (
                    self._cost.get(endpoint, 0.0)
                    + outcome.prompt_tokens / 1e6 * (price_in or 0.0)
                    + outcome.completion_tokens / 1e6 * (price_out or 0.0)
                )

    def stop(self) -> None:
        """The work is over: elapsed time (and the rate) stay as they are now."""
        with self._lock:
            if self._stopped is None:
                self._stopped = self._clock()

    def snapshot(self) -> ProgressSnapshot:
        """A consistent copy of the counters, with elapsed time and rate filled in."""
        with self._lock:
            state = replace(self._state, endpoints=list(self._state.endpoints))
            if self._cost:
                state.cost_usd = sum(self._cost.values())
            if self._started is not None:
                now = self._stopped if self._stopped is not None else self._clock()
                state.elapsed_s = now - self._started
                answered = state.done - state.cached
                state.rows_per_s = answered / state.elapsed_s if state.elapsed_s > 0 else 0.0
            return state
