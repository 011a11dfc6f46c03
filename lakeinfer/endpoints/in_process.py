"""Providers whose model runs inside this process (torch, transformers, MLflow, Python code).

A subclass implements :meth:`InProcessProvider.predict`, a synchronous call on a whole batch.
It runs on a worker thread so the event loop stays free; the models use several CPU threads
themselves, so one batch at a time (``max_concurrency`` 1) is the default. When a batch fails,
each of its rows is tried on its own so that only the rows at fault get an error.
"""

from __future__ import annotations

import asyncio
import threading
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from lakeinfer.endpoints.base import AIRequest, Outcome, Provider
from lakeinfer.errors import RuntimeUnavailableError


class InProcessProvider(Provider):
    """Runs :meth:`predict` on batches in a worker thread; turns exceptions into row errors."""

    #: local models do not flake: a failed row fails the same way again
    max_retries = 0
    timeout_s = 3600.0
    #: call :meth:`predict` with one payload at a time (no batch attempt first)
    row_at_a_time = False

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @abstractmethod
    def predict(self, payloads: list[Any], parameters: dict[str, Any]) -> list[Any]:
        """Answer every payload (a value or a record dict), in order, one answer each.

        Raise to fail the batch; raise :class:`RowError` to fail it with a message that names
        the problem without a traceback.
        """

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load the model (called once, on a worker thread, before the first batch)."""

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        return await asyncio.to_thread(self._infer_sync, list(batch))

    def _infer_sync(self, batch: list[AIRequest]) -> list[Outcome]:
        with self._lock:  # one model, one batch at a time
            try:
                self.load()
            except RuntimeUnavailableError as exc:
                raise RuntimeUnavailableError(f"endpoint {self.name!r}: {exc}") from None
            parameters = batch[0].parameters if batch else {}
            payloads = [request.payload for request in batch]
            if self.row_at_a_time:
                return [self._one(payload, parameters) for payload in payloads]
            try:
                answers = self.predict(payloads, parameters)
            except Exception as exc:
                if len(batch) == 1:
                    return [Outcome(error=describe(exc))]
                return [self._one(payload, parameters) for payload in payloads]
            if len(answers) != len(batch):
                message = f"the model returned {len(answers)} answers for {len(batch)} inputs"
                return [Outcome(error=message) for _ in batch]
            return [Outcome(value=to_plain(answer)) for answer in answers]

    def _one(self, payload: Any, parameters: dict[str, Any]) -> Outcome:
        try:
            answers = self.predict([payload], parameters)
        except Exception as exc:
            return Outcome(error=describe(exc))
        if len(answers) != 1:
            return Outcome(error=f"the model returned {len(answers)} answers for 1 input")
        return Outcome(value=to_plain(answers[0]))


class RowError(Exception):
    """A request the model cannot take; the message is shown to the user as is."""


def describe(exc: BaseException) -> str:
    """A one-line message for a model failure (the exception's own class name included)."""
    if isinstance(exc, RowError):
        return str(exc)
    text = " ".join(str(exc).split()) or "no message"
    if len(text) > 500:
        text = text[:500] + "..."
    return f"the model failed: {exc.__class__.__name__}: {text}"


def to_plain(value: Any) -> Any:
    """numpy scalars and arrays, pandas objects and tuples as plain Python values, so answers
    can be cast to Arrow types and cached as JSON."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if hasattr(value, "to_dict") and hasattr(value, "index"):  # pandas Series
        return {str(k): to_plain(v) for k, v in value.to_dict().items()}
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return to_plain(value.tolist())
    if hasattr(value, "item"):
        return value.item()
    return value
