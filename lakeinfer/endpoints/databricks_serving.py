"""Databricks custom Model Serving endpoints over HTTP (and anything speaking their protocol,
such as MLflow's scoring server or ``lakeinfer serve``).

Requests are batched into one ``POST {workspace}/serving-endpoints/{name}/invocations``:
``named_struct`` requests as ``{"dataframe_records": [{...}, ...]}``, plain values as
``{"inputs": [...]}``. The answer ``{"predictions": [...]}`` holds one prediction per row, which
``ai_query`` casts to ``returnType``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from lakeinfer.endpoints.base import AIRequest, Capabilities, Outcome
from lakeinfer.endpoints.openai_http import OpenAIProvider, _snippet

SERVING_BATCH = 32
#: modelParameters that are ai_query defaults, not something a custom model asked for
_IMPLICIT = frozenset({"temperature"})


class DatabricksServingProvider(OpenAIProvider):
    """A custom model behind ``/serving-endpoints/{endpoint}/invocations``."""

    def __init__(
        self,
        name: str,
        *,
        host: str,
        endpoint: str,
        api_key: str | None = None,
        max_batch: int = SERVING_BATCH,
        max_concurrency: int = 16,
        timeout_s: float = 120.0,
        max_retries: int = 3,
    ):
        host = host if host.startswith("http") else f"https://{host}"
        super().__init__(
            name,
            base_url=host,
            model=endpoint,
            api_key=api_key,
            max_concurrency=max_concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
            description=f"serving endpoint {endpoint!r} at {host}",
        )
        self.path = f"/serving-endpoints/{endpoint}/invocations"
        self.capabilities = Capabilities(
            task="custom", max_batch=max_batch, max_concurrency=max_concurrency
        )

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        outcomes = await self._invoke(batch)
        if len(batch) > 1 and _refused(outcomes):
            # the endpoint refused the batch (one bad record fails it whole): ask row by row
            # so that only the rows at fault get the error
            outcomes = await asyncio.gather(*(self._invoke([request]) for request in batch))
            return [row[0] for row in outcomes]
        return outcomes

    async def _invoke(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        payloads = [request.payload for request in batch]
        body: dict[str, Any]
        if payloads and all(isinstance(p, dict) for p in payloads):
            body = {"dataframe_records": payloads}
        else:
            body = {"inputs": payloads}
        params = {k: v for k, v in (batch[0].parameters if batch else {}).items()}
        params = {k: v for k, v in params.items() if k not in _IMPLICIT}
        if params:
            body["params"] = params
        answer = await self._post(self.path, body)
        if isinstance(answer, Outcome):
            return [_copy_failure(answer) for _ in batch]
        predictions = answer.get("predictions") if isinstance(answer, dict) else None
        if isinstance(predictions, dict) and len(batch) == 1:
            predictions = [predictions]
        if not isinstance(predictions, list):
            message = f"expected {{'predictions': [...]}}, got {_snippet(json.dumps(answer))}"
            return [Outcome(error=message) for _ in batch]
        if len(predictions) != len(batch):
            message = f"endpoint returned {len(predictions)} predictions for {len(batch)} rows"
            return [Outcome(error=message) for _ in batch]
        return [Outcome(value=value) for value in predictions]


def _refused(outcomes: list[Outcome]) -> bool:
    """Whether a whole batch failed with a non-retryable answer (HTTP 400 and the like)."""
    return bool(outcomes) and all(not o.ok and not o.retryable for o in outcomes)


def _copy_failure(failure: Outcome) -> Outcome:
    return Outcome(
        error=failure.error,
        retryable=failure.retryable,
        retry_after=failure.retry_after,
        throttled=failure.throttled,
        timed_out=failure.timed_out,
        status=failure.status,
    )
