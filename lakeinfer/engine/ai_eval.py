"""Answers the requests of one ``ai_query`` call site, as Arrow arrays.

Within one statement identical requests (same endpoint, request, returnType and parameters) cost
one call, NULL requests make no call and give NULL, and answers keep the order of the input.
Requests go through the scheduler with a bounded window in flight. Under ``failOnError => true``
the first failed row fails the statement (naming endpoint and row); under ``false`` each row gets
``STRUCT<result, errorMessage>``.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Hashable
from typing import Any

import pyarrow as pa
from tqdm import tqdm

from lakeinfer.endpoints.base import AIRequest, Outcome
from lakeinfer.endpoints.registry import EndpointRegistry
from lakeinfer.errors import AnalysisError, EndpointError
from lakeinfer.runtime.loop import BackgroundLoop
from lakeinfer.runtime.scheduler import CallStats, run_requests
from lakeinfer.sql.functions import AiQueryCall

PROGRESS_MIN_REQUESTS = 16


class AiEvaluator:
    """Per-statement memo and accounting around the endpoint registry."""

    def __init__(
        self, registry: EndpointRegistry, loop: BackgroundLoop, progress: bool | None = None
    ):
        self.registry = registry
        self.loop = loop
        self.progress = progress
        self.stats = CallStats()
        self._memo: dict[Hashable, Outcome] = {}
        self._lock = threading.Lock()

    def task_of(self, call: AiQueryCall) -> str:
        return self.registry.task_of(call.endpoint)

    def answer(
        self, call: AiQueryCall, requests: pa.Array | pa.ChunkedArray, row_offset: int = 0
    ) -> pa.Array:
        """Answer each element of ``requests``; returns an array of ``call.output_type``."""
        task = self.task_of(call)
        if isinstance(requests, pa.ChunkedArray):
            requests = requests.combine_chunks()
        values = requests.to_pylist()
        prefix = call.cache_key_prefix()
        with (
            self._lock
        ):  # DuckDB may call from several threads; one batch at a time keeps dedup exact
            missing: dict[Hashable, AIRequest] = {}
            for value in values:
                if value is None:
                    continue
                key = (prefix, _request_key(value))
                if key not in self._memo and key not in missing:
                    missing[key] = AIRequest(
                        payload=_payload(value, task), parameters=call.parameters
                    )
            if missing:
                self._call(call.endpoint, missing)
            outcomes = [
                None if v is None else self._memo[(prefix, _request_key(v))] for v in values
            ]
        return self._to_array(call, task, outcomes, row_offset)

    def _call(self, endpoint: str, missing: dict[Hashable, AIRequest]) -> None:
        provider = self.registry.get(endpoint)
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        bar = tqdm(
            total=len(missing),
            desc=f"ai_query {endpoint}",
            unit="req",
            file=sys.stderr,
            disable=not show or len(missing) < PROGRESS_MIN_REQUESTS,
            leave=False,
        )

        def record(key: Hashable, outcome: Outcome) -> None:
            self._memo[key] = outcome
            bar.update(1)

        try:
            limits = self.registry.limits_of(endpoint)
            stats = self.loop.run(run_requests(provider, missing.items(), record, limits=limits))
        finally:
            bar.close()
        self.stats.add(stats)

    def _to_array(
        self, call: AiQueryCall, task: str, outcomes: list[Outcome | None], row_offset: int
    ) -> pa.Array:
        result_type = call.result_type(task)
        results: list[Any] = []
        errors: list[str | None] = []
        for row, outcome in enumerate(outcomes):
            if outcome is None:
                results.append(None)
                errors.append(None)
                continue
            value, error = outcome.value, outcome.error
            if error is None:
                value, error = _convert(value, result_type, call.return_ddl)
            if error is not None and call.fail_on_error:
                raise EndpointError(call.endpoint, error, row=row_offset + row + 1)
            results.append(value if error is None else None)
            errors.append(error)
        result_array = pa.array(results, type=result_type)
        if call.fail_on_error:
            return result_array
        return pa.StructArray.from_arrays(
            [result_array, pa.array(errors, type=pa.string())], names=["result", "errorMessage"]
        )


def _request_key(value: Any) -> Hashable:
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _payload(value: Any, task: str) -> Any:
    if isinstance(value, str):
        return value
    raise AnalysisError(
        f"the request of a {task} endpoint must be a STRING, got {type(value).__name__}"
    )


def _convert(value: Any, target: pa.DataType, ddl: str | None) -> tuple[Any, str | None]:
    """Fit a model answer to the call's type; a failed cast is a per-row error."""
    if pa.types.is_string(target):
        return (value if isinstance(value, str) or value is None else json.dumps(value)), None
    candidate = value
    if isinstance(value, str) and not pa.types.is_string(target):
        try:
            candidate = json.loads(value)
        except json.JSONDecodeError:
            candidate = value
    try:
        pa.array([candidate], type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        shown = value if len(str(value)) < 200 else str(value)[:200] + "..."
        return None, f"cannot cast the model's answer {shown!r} to {ddl or target}"
    return candidate, None
