"""Per-request deadlines that follow progress.

A request gets ``timeout_s`` to answer. A provider that sees its answer arrive piece by piece
(tokens streamed by a local server) calls :func:`made_progress` on each piece; its request then
times out only after ``timeout_s`` *without* progress, or once it has run ``max_request_s`` in
all (the overall cap), so a slow but working server is not cut off and asked again from scratch
while it is still generating the first copy.

Calls are timed out by one periodic check rather than a timer per call: a timer per call
(``asyncio.timeout``) costs several microseconds, which shows at a thousand calls a second;
this costs a dict insert per call. A call times out between its deadline and one ``tick``
after it.
"""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass

#: why a call was cut off: no answer within ``timeout_s``, no progress within ``timeout_s``
#: after some (a stream that stalled), or over the overall cap
IDLE, STALLED, CAPPED = "idle", "stalled", "capped"


@dataclass
class _Entry:
    deadline: float
    cap: float
    progressed: bool = False


class Deadlines:
    """The deadlines of the calls in flight of one run (one event loop)."""

    def __init__(self, timeout_s: float, max_request_s: float | None = None):
        self.timeout_s = timeout_s
        #: the overall cap of a call that keeps making progress (None: no cap)
        self.max_request_s = max_request_s
        self.tick = min(1.0, max(0.01, timeout_s / 10))
        self.loop = asyncio.get_running_loop()
        self.pending: dict[asyncio.Task[object], _Entry] = {}
        #: the calls cut off, with why (:data:`IDLE`, :data:`STALLED` or :data:`CAPPED`)
        self.expired: dict[asyncio.Task[object], str] = {}
        self._watch = self.loop.create_task(self._run())

    def start(self, task: asyncio.Task[object]) -> contextvars.Token[Deadlines | None]:
        """Time ``task``'s call from now; :func:`made_progress` in it pushes its deadline."""
        now = self.loop.time()
        # never below timeout_s: a call that reports no progress keeps its plain timeout
        cap = now + max(self.max_request_s, self.timeout_s) if self.max_request_s else float("inf")
        self.pending[task] = _Entry(min(now + self.timeout_s, cap), cap)
        return _CURRENT.set(self)

    def finish(
        self, task: asyncio.Task[object], token: contextvars.Token[Deadlines | None]
    ) -> None:
        self.pending.pop(task, None)
        _CURRENT.reset(token)

    def progress(self, task: asyncio.Task[object]) -> None:
        entry = self.pending.get(task)
        if entry is not None:
            entry.deadline = min(self.loop.time() + self.timeout_s, entry.cap)
            entry.progressed = True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            now = self.loop.time()
            late = [task for task, entry in self.pending.items() if entry.deadline <= now]
            for task in late:
                entry = self.pending.pop(task)
                if not entry.progressed:
                    self.expired[task] = IDLE
                else:
                    self.expired[task] = CAPPED if entry.deadline >= entry.cap else STALLED
                task.cancel()

    async def close(self) -> None:
        self._watch.cancel()
        await asyncio.gather(self._watch, return_exceptions=True)


_CURRENT: contextvars.ContextVar[Deadlines | None] = contextvars.ContextVar(
    "lakeinfer_deadlines", default=None
)


def made_progress() -> None:
    """Tell the scheduler that the current call's answer is still arriving (a streamed token):
    its deadline moves to ``timeout_s`` from now, never past the overall cap."""
    deadlines = _CURRENT.get()
    if deadlines is None:
        return
    task = asyncio.current_task()
    if task is not None:
        deadlines.progress(task)


@dataclass(frozen=True, eq=False)
class Reporter:
    """:func:`made_progress` for one call, callable from another task (a watcher that sees
    the server working while the call waits)."""

    deadlines: Deadlines
    task: asyncio.Task[object]

    def __call__(self) -> None:
        self.deadlines.progress(self.task)

    @property
    def timeout_s(self) -> float:
        """The call's ``timeout_s``: a watcher looks more often than that."""
        return self.deadlines.timeout_s


def progress_reporter() -> Reporter | None:
    """The :class:`Reporter` of the current call; None outside a timed call."""
    deadlines = _CURRENT.get()
    task = asyncio.current_task()
    if deadlines is None or task is None:
        return None
    return Reporter(deadlines, task)


def follows_progress() -> bool:
    """Whether the current call is timed by a scheduler that honours :func:`made_progress`."""
    return _CURRENT.get() is not None
