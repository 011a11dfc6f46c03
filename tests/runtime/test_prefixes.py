"""Grouping requests by shared prefix and pinning each group to its own slots."""

from __future__ import annotations

import asyncio

from lakeinfer.endpoints.base import AIRequest
from lakeinfer.endpoints.llama_server import LlamaServerProvider
from lakeinfer.runtime.prefixes import (
    pinned_order,
    prefix_groups,
    shared_prefix,
    slot_plan,
)
from lakeinfer.runtime.scheduler import run_requests

A = "a" * 300
B = "b" * 300


def test_shared_prefix_length():
    assert shared_prefix("abcdef", "abcxyz") == 3
    assert shared_prefix("abc", "abcdef") == 3
    assert shared_prefix("", "abc") == 0
    assert shared_prefix("xbc", "abc") == 0
    assert shared_prefix(A + "1", A + "2") == 300


def test_groups_split_where_neighbours_share_less_than_the_minimum():
    texts = [B + "1", A + "2", "short", A + "1", B + "2", "shorter"]
    assert prefix_groups(texts) == [[3, 1], [0, 4], [2], [5]]
    assert prefix_groups(texts, min_shared=3) == [[3, 1], [0, 4], [2, 5]]


def test_slots_are_shared_out_by_group_size():
    assert slot_plan([[0, 1, 2, 3, 4, 5], [6, 7]], 4) == {
        0: 0, 1: 1, 2: 2, 3: 0, 4: 1, 5: 2, 6: 3, 7: 3,
    }  # fmt: skip
    # more groups than slots: groups share slots round robin
    assert slot_plan([[0], [1], [2]], 2) == {0: 0, 1: 1, 2: 0}
    assert slot_plan([], 8) == {}


def test_pinned_order_keeps_one_prefix_per_slot_and_every_slot_busy():
    texts = [A + str(i) for i in range(6)] + [B + str(i) for i in range(2)]
    order = pinned_order(texts, 4)
    assert sorted(index for index, _ in order) == list(range(8))
    slots_of = {}
    for index, slot in order:
        slots_of.setdefault(slot, set()).add(texts[index][0])
    assert slots_of == {0: {"a"}, 1: {"a"}, 2: {"a"}, 3: {"b"}}
    # the first four requests sent go to four different slots
    assert sorted(slot for _, slot in order[:4]) == [0, 1, 2, 3]


def test_llama_server_provider_sends_each_group_to_its_slots(fake_server):
    provider = LlamaServerProvider(
        "local", slots=2, base_url=fake_server.base_url, model="m", max_concurrency=4
    )
    items = [
        (i, AIRequest(text, {"temperature": 0.0}))
        for i, text in enumerate([A + "x", B + "y", A + "z", B + "w"])
    ]
    arranged = provider.arrange(items)
    assert all(request.parameters["temperature"] == 0.0 for _, request in arranged)
    answers: dict[int, str] = {}

    async def run() -> None:
        try:
            await run_requests(provider, arranged, lambda k, o: answers.__setitem__(k, o.value))
        finally:
            await provider.aclose()

    asyncio.run(run())
    assert answers == {i: f"echo: {r.payload}" for i, r in items}
    bodies = fake_server.stats()["bodies"]
    slot_of = {b["messages"][0]["content"][0]: set() for b in bodies}
    for body in bodies:
        slot_of[body["messages"][0]["content"][0]].add(body["id_slot"])
    assert slot_of == {"a": {0}, "b": {1}}
    assert items[0][1].parameters == {"temperature": 0.0}  # the caller's requests are unchanged
