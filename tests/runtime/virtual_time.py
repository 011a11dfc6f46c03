"""An event loop on virtual time, so timing logic is tested without real sleeps.

Whenever the loop would block waiting for its next timer, it jumps its clock to that timer
instead. ``asyncio.sleep``, ``asyncio.timeout`` and ``loop.time()`` all follow the virtual clock,
so the code under test runs unchanged and instantly.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    def __init__(self, loop: VirtualTimeLoop):
        super().__init__()
        self._virtual_loop = loop

    def select(self, timeout: float | None = None) -> list:
        events = super().select(0)
        if not events and timeout:
            self._virtual_loop.now += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector loop whose ``time()`` is virtual and jumps to the next timer when idle."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(selector=_JumpingSelector(self))

    def time(self) -> float:
        return self.now


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh :class:`VirtualTimeLoop`."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
