"""The executor side: one runtime per Python worker process, reused across batches and queries.

A runtime holds the endpoint registry (its HTTP sessions), the background event loop the
scheduler runs on, and the response cache. It lives in this installed module, so Spark's reused
Python workers keep it between tasks; each Arrow batch is answered by one pass of
:class:`~lakeinfer.engine.ai_eval.AiEvaluator` (distinct requests, cache, concurrent calls).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakeinfer.endpoints.registry import EndpointRegistry
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.runtime.cache import ResponseCache
from lakeinfer.runtime.loop import BackgroundLoop
from lakeinfer.settings import Settings
from lakeinfer.spark.shipping import ShippedConfig
from lakeinfer.sql.functions import AiQueryCall

_RUNTIMES: dict[str, ExecutorRuntime] = {}
_LOCK = threading.Lock()


class ExecutorRuntime:
    """Endpoints, loop and cache of one executor process for one shipped configuration."""

    def __init__(self, shipped: ShippedConfig):
        config = shipped.config()
        self.registry = EndpointRegistry(config, _notice)
        self.settings = Settings(config.settings)
        self.loop = BackgroundLoop()
        self._cache_path = shipped.cache_path
        self._cache: ResponseCache | None = None
        self._cache_lock = threading.Lock()
        #: batches answered by this runtime (a check that the runtime is reused)
        self.batches = 0
        #: the accumulator of the query being answered (set by :func:`runtime`)
        self.usage: Any = None

    def answer(self, call: AiQueryCall, requests: pa.Array) -> pa.Array:
        """Answer one batch; failures follow ``call.fail_on_error``."""
        evaluator = AiEvaluator(
            self.registry,
            self.loop,
            self.settings,
            cache=self._response_cache if self._cache_path else None,
            progress=False,
        )
        self.batches += 1
        try:
            return evaluator.answer(call, requests)
        finally:
            if self.usage is not None:
                from lakeinfer.spark.usage import of

                self.usage.add(of(evaluator.stats, evaluator.cache_hits))

    def _response_cache(self) -> ResponseCache:
        with self._cache_lock:
            if self._cache is None:
                assert self._cache_path is not None
                self._cache = ResponseCache(Path(self._cache_path))
            return self._cache


def runtime(shipped: ShippedConfig) -> ExecutorRuntime:
    """This process's runtime for ``shipped`` (created on first use)."""
    key = shipped.key
    found = _RUNTIMES.get(key)
    if found is None:
        with _LOCK:
            found = _RUNTIMES.get(key)
            if found is None:
                found = _RUNTIMES[key] = ExecutorRuntime(shipped)
    # a Python worker runs one task at a time: its batches report to that query's accumulator
    found.usage = shipped.usage
    return found


def _notice(message: str) -> None:
    print(f"lakeinfer: {message}", file=sys.stderr, flush=True)
