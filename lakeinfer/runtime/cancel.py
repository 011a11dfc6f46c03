"""Cancelling a running statement from another thread (the web workspace's cancel button).

A :class:`CancelToken` is handed to the scheduler (through the session); :meth:`CancelToken.cancel`
stops pulling new requests and cancels the calls in flight, so the statement fails with
:class:`~lakeinfer.errors.StatementCancelledError` before anything is written: its table keeps
its version. Answers that arrived before the cancel stay in the response cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lakeinfer.errors import StatementCancelledError


class CancelToken:
    """A thread-safe, one-way flag with callbacks run once when it is set."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """Set the flag and run the registered callbacks (idempotent, any thread)."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` when cancelled (at once if already); returns a function that
        unregisters it."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._discard(callback)
        callback()
        return lambda: None

    def _discard(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise StatementCancelledError()
