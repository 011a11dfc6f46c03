"""Copying a shared prompt prefix into llama-server slots instead of evaluating it in each.

llama-server reuses a prompt prefix only within a slot. When a prefix group is spread over
several slots (:func:`lakeinfer.runtime.prefixes.slot_plan`), its first requests all start at
once and every slot evaluates the same prefix: with the seed's ~440-token few-shot prompt on 8
slots, eight times the prompt work of one. A :class:`SlotPrimer` first has the group's first
request read its prompt alone (the same request with ``max_tokens`` 1, so the others wait for
the prompt only, not for a whole answer), then copies that slot's cache to the group's other
slots with llama-server's slot save/restore (``/slots/N?action=save|restore``, a file in the
server's ``--slot-save-path``), and only then lets the group's requests go, the first one
included. Each finds the prefix in its slot and evaluates only its own tail.

Copying is an optimisation: when it fails (a slot busy with another statement, no save path),
the requests are released all the same and evaluate the prefix themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lakeinfer.redaction import logger

if TYPE_CHECKING:
    from lakeinfer.endpoints.base import AIRequest, Outcome

log = logger(__name__)

Send = Callable[["AIRequest"], Awaitable["Outcome"]]
CopySlot = Callable[[int, Sequence[int]], Awaitable[None]]


@dataclass(eq=False)
class SlotPrimer:
    """One prefix group: ``leader``'s prompt is read first on slot ``source``; then
    ``source``'s cache is copied to ``targets`` and the group's requests are released."""

    source: int
    targets: tuple[int, ...]
    #: the leader's index in the arranged items; its request is set by ``arrange``
    leader_index: int
    leader: AIRequest | None = None
    _claimed: bool = False
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, request: AIRequest, send: Send, prefill: Send, copy: CopySlot) -> Outcome:
        """Answer ``request``. The first call for the leader reads its prompt
        (``prefill``) and copies the slot before anything of the group is sent; every request
        waits until that is over, then is sent as usual."""
        if request is self.leader and not self._claimed:
            self._claimed = True
            try:
                if (await prefill(request)).ok:
                    await copy(self.source, self.targets)
            finally:
                self._ready.set()  # also when the prefill failed or was cancelled
        await self._ready.wait()
        return await send(request)


def attach_primers(
    order: Sequence[tuple[int, int]], groups: Sequence[Sequence[int]]
) -> dict[int, SlotPrimer]:
    """The primer of each index in ``order`` (``(index, slot)`` in sending order) whose group
    has more than one request and owns more than one slot. The leader is the group's first
    request in sending order; indexes of groups that need no copy are absent."""
    slot_of = dict(order)
    position = {index: at for at, (index, _) in enumerate(order)}
    primers: dict[int, SlotPrimer] = {}
    for group in groups:
        slots = sorted({slot_of[i] for i in group})
        if len(group) < 2 or len(slots) < 2:
            continue
        leader = min(group, key=position.__getitem__)
        source = slot_of[leader]
        primer = SlotPrimer(source, tuple(s for s in slots if s != source), leader)
        for index in group:
            primers[index] = primer
    return primers
