"""A circuit breaker per endpoint: stop calling an endpoint that cannot answer.

After ``threshold`` consecutive failures (the scheduler uses the endpoint's concurrency, at
least :data:`FAILURE_THRESHOLD`: a whole window failing in a row) that say the endpoint as a
whole is down (it cannot be reached, it times out, it answers 5xx, or it refuses the
credentials or the model: 401, 403, 404) the circuit opens: calls are refused at once with an
error naming the endpoint and the last cause, instead of each row paying its own retries.
After ``cooldown_s`` one call goes through as a probe (half-open); the others wait for its
result. A probe that succeeds closes the circuit;
one that fails opens it again for twice as long (at most ``max_cooldown_s``).

Throttling (429/503/529) is not a failure here: the endpoint is up and asks to slow down, which
the adaptive concurrency handles. A row the endpoint answers with another error (400, a broken
body) proves the endpoint is up and resets the count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from lakeinfer.endpoints.base import Outcome

#: Consecutive endpoint-wide failures that open the circuit.
FAILURE_THRESHOLD = 5
#: Seconds the circuit stays open before a probe is let through.
COOLDOWN_S = 5.0
MAX_COOLDOWN_S = 60.0
#: HTTP statuses that mean no request to this endpoint can succeed as configured.
ENDPOINT_STATUS = frozenset({401, 403, 404})

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


def is_endpoint_failure(outcome: Outcome) -> bool:
    """Whether a failed ``outcome`` says the endpoint as a whole cannot answer."""
    if outcome.error is None or outcome.throttled:
        return False
    status = outcome.status
    if status is None:
        return outcome.retryable  # unreachable, reset, timed out
    return status >= 500 or status in ENDPOINT_STATUS


class CircuitBreaker:
    """The breaker of one endpoint (driven from one event loop)."""

    def __init__(
        self,
        name: str,
        *,
        threshold: int = FAILURE_THRESHOLD,
        cooldown_s: float = COOLDOWN_S,
        max_cooldown_s: float = MAX_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ):
        """``enabled=False``: a breaker that counts nothing and never opens."""
        self.name = name
        self.enabled = enabled
        self.threshold = max(1, threshold)
        self.base_cooldown_s = cooldown_s
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.clock = clock
        self.state = CLOSED
        self.failures = 0  # consecutive
        self.cause = ""
        self._opened_after = 0  # the consecutive failures that opened the circuit
        self._opened_at = 0.0
        self._probe: asyncio.Future[None] | None = None

    @property
    def refusal(self) -> str:
        """The error of a call refused while the circuit is open."""
        return (
            f"endpoint {self.name!r} is unavailable (circuit open after {self._opened_after} "
            f"consecutive failures: {self.cause})"
        )

    async def admit(self) -> tuple[bool, str | None]:
        """Whether a call may go: ``(is_probe, None)``, or ``(False, refusal)``."""
        while True:
            if self.state == CLOSED:
                return False, None
            if self.state == OPEN:
                if self.clock() - self._opened_at < self.cooldown_s:
                    return False, self.refusal
                self.state = HALF_OPEN
                self._probe = asyncio.get_running_loop().create_future()
                return True, None
            probe = self._probe  # half-open: wait for the probe's verdict, then look again
            assert probe is not None
            await asyncio.shield(probe)

    def record(self, outcomes: list[Outcome], probe: bool) -> None:
        """Count one call's outcomes (``probe``: it was the half-open probe)."""
        if not self.enabled:
            return
        if not outcomes or not all(is_endpoint_failure(o) for o in outcomes):
            self.failures = 0  # the endpoint answered: it is up
            if self.state != CLOSED:
                self._close()
            return
        failed = outcomes[0]
        self.failures += 1
        self.cause = _short(failed.error or "")
        if probe:
            self.cooldown_s = min(self.max_cooldown_s, self.cooldown_s * 2)
            self._open()
        elif self.state == CLOSED and self.failures >= self.threshold:
            self._open()

    def abandon(self, probe: bool) -> None:
        """A call ended without an answer (cancelled): a probe frees the next caller."""
        if probe and self.state == HALF_OPEN:
            self.state = OPEN
            self._opened_at = self.clock() - self.cooldown_s  # the next caller probes
            self._settle()

    def _open(self) -> None:
        self.state = OPEN
        self._opened_after = self.failures
        self._opened_at = self.clock()
        self._settle()

    def _close(self) -> None:
        self.state = CLOSED
        self.cooldown_s = self.base_cooldown_s
        self._settle()

    def _settle(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None and not probe.done():
            probe.set_result(None)


def _short(text: str) -> str:
    """``text`` on one line, at most 300 characters."""
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:300] + "..."
