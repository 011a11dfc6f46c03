"""Grouping requests by shared prompt prefix, for runtimes that cache prefixes per slot.

A runtime such as llama.cpp's server keeps, per parallel slot, the prompt it last evaluated
and reuses its longest common prefix with the next prompt on that slot. Sorting requests by
text puts the requests of one template next to each other, but then they are in flight at the
same time on different slots, and every slot evaluates the shared prefix itself. Pinning each
prefix group to its own slots (and sending the groups interleaved) keeps each slot on one
prefix, so only a group's first request per slot pays for it.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Leading characters two prompts must share to count as one prefix group (about 60 tokens:
#: less is not worth a slot of its own).
MIN_SHARED_PREFIX = 256


def shared_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of ``a`` and ``b``."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low] and a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low


def prefix_groups(texts: Sequence[str], min_shared: int = MIN_SHARED_PREFIX) -> list[list[int]]:
    """Indexes of ``texts`` grouped by shared prefix: sorted by text, a new group starts
    wherever a text shares fewer than ``min_shared`` leading characters with the one before.
    Groups come in text order, and indexes within a group too."""
    order = sorted(range(len(texts)), key=texts.__getitem__)
    groups: list[list[int]] = []
    for index in order:
        if groups and shared_prefix(texts[groups[-1][-1]], texts[index]) >= min_shared:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def slot_plan(groups: Sequence[Sequence[int]], slots: int) -> dict[int, int]:
    """The slot (``0 .. slots - 1``) of each index: every group gets its own slots, in
    proportion to its size (at least one each); with more groups than slots, groups share
    slots round robin. A group cycles through its slots."""
    if not groups:
        return {}
    slots = max(1, slots)
    if len(groups) >= slots:
        owned = [[g % slots] for g in range(len(groups))]
    else:
        counts = [1] * len(groups)
        for _ in range(slots - len(groups)):
            g = max(range(len(groups)), key=lambda i: len(groups[i]) / counts[i])
            counts[g] += 1
        owned, first = [], 0
        for count in counts:
            owned.append(list(range(first, first + count)))
            first += count
    return {
        index: owned[g][i % len(owned[g])]
        for g, group in enumerate(groups)
        for i, index in enumerate(group)
    }


def pinned_order(
    texts: Sequence[str], slots: int, groups: Sequence[Sequence[int]] | None = None
) -> list[tuple[int, int]]:
    """``(index, slot)`` for every text, in the order to send them: texts grouped by prefix
    (``groups``, by default :func:`prefix_groups`), groups given slots (:func:`slot_plan`),
    then one text per slot in turn, so the requests in flight at any time keep every slot busy
    with its own prefix."""
    plan = slot_plan(prefix_groups(texts) if groups is None else groups, slots)
    queues: dict[int, list[int]] = {}
    for index, slot in plan.items():
        queues.setdefault(slot, []).append(index)
    lanes = [queues[slot] for slot in sorted(queues)]
    longest = max((len(lane) for lane in lanes), default=0)
    return [(lane[i], plan[lane[i]]) for i in range(longest) for lane in lanes if i < len(lane)]
