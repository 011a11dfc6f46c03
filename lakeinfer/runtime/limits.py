"""Per-endpoint limits the scheduler obeys.

Values come, in order of precedence, from ``SET lakeinfer.<key> = value`` (session), the
environment (``LAKEINFER_<KEY>``), the endpoint's entry in ``config.toml``, and the defaults here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointLimits:
    """How hard lakeinfer may drive one endpoint.

    ``max_concurrency``: requests (batches) in flight at most. ``requests_per_minute``,
    ``input_tokens_per_minute``, ``output_tokens_per_minute``: rate budgets (None = unlimited).
    ``timeout_s``: seconds one request may take before it counts as a retryable failure; for
    a provider whose answer streams in (a local server), seconds *without progress* (no token).
    ``max_request_s``: the overall cap of a request that keeps making progress; one cut off
    there is not retried (it would redo the same work).
    ``max_retries``: retries of a retryable failure (429, 5xx, timeouts, resets) per request.
    """

    max_concurrency: int = 64
    requests_per_minute: float | None = None
    input_tokens_per_minute: float | None = None
    output_tokens_per_minute: float | None = None
    timeout_s: float = 120.0
    max_retries: int = 3
    max_request_s: float = 600.0
