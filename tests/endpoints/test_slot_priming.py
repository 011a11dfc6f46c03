"""A prefix group's prompt is evaluated in one llama-server slot and copied to its others."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from lakeinfer.endpoints.base import AIRequest, Outcome
from lakeinfer.endpoints.llama_server import LlamaServer, LlamaServerProvider, ServerSettings
from lakeinfer.endpoints.slot_priming import SlotPrimer, attach_primers
from lakeinfer.runtime.prefixes import pinned_order, prefix_groups
from lakeinfer.runtime.scheduler import run_requests

PREFIX = (
    "You are a careful reviewer of customer feedback. Read the review below and answer with "
    "one word that names its overall sentiment: positive, negative, mixed or neutral. Do not "
    "explain the answer, do not repeat the review, and do not add punctuation of any kind. "
)
TAILS = ["Great phone.", "Awful service.", "It broke.", "Fine, I guess.", "Love it.",
         "Too slow.", "Would buy again.", "Never again."]  # fmt: skip


def test_groups_spread_over_several_slots_get_a_primer_led_by_their_first_request():
    texts = [PREFIX + t for t in TAILS[:6]] + ["short one", "short two"]
    groups = prefix_groups(texts)
    order = pinned_order(texts, 4, groups)
    primers = attach_primers(order, groups)
    prefixed = {i for i in range(6)}
    assert set(primers) == prefixed  # the singletons need no copy
    primer = primers[0]
    assert all(primers[i] is primer for i in prefixed)
    first = next(index for index, _ in order if index in prefixed)
    slot_of = dict(order)
    assert primer.source == slot_of[first] and primer.leader_index == first
    assert set(primer.targets) == {slot_of[i] for i in prefixed} - {primer.source}
    # one slot per group (more groups than slots): nothing to copy
    assert attach_primers(pinned_order(texts, 2, groups), groups) == {}


def run_primer(prefill_ok: bool) -> list[str]:
    """A leader, a follower and a retry of the leader through one primer; what happened, in
    order."""
    events: list[str] = []
    leader, follower = AIRequest("lead"), AIRequest("follow")
    primer = SlotPrimer(0, (1, 2), 0, leader)

    async def send(request: AIRequest) -> Outcome:
        events.append(f"send {request.payload}")
        return Outcome(value="ok")

    async def prefill(request: AIRequest) -> Outcome:
        events.append(f"prefill {request.payload}")
        await asyncio.sleep(0.01)
        return Outcome(value="x") if prefill_ok else Outcome(error="boom")

    async def copy(source: int, targets) -> None:
        events.append(f"copy {source} -> {list(targets)}")

    async def run() -> None:
        await asyncio.gather(
            primer.run(follower, send, prefill, copy),
            primer.run(leader, send, prefill, copy),
            primer.run(leader, send, prefill, copy),  # a retry: no second prefill or copy
        )

    asyncio.run(run())
    return events


def test_the_leaders_prompt_is_read_and_copied_before_anything_is_sent():
    events = run_primer(prefill_ok=True)
    assert events[:2] == ["prefill lead", "copy 0 -> [1, 2]"]
    assert sorted(events[2:]) == ["send follow", "send lead", "send lead"]


def test_a_failed_prefill_copies_nothing_and_releases_every_request():
    events = run_primer(prefill_ok=False)
    assert events[0] == "prefill lead" and not any(e.startswith("copy") for e in events)
    assert sorted(events[1:]) == ["send follow", "send lead", "send lead"]


@pytest.fixture(scope="module")
def settings() -> ServerSettings:
    base = ServerSettings.from_env()
    return replace(base, parallel=4, ctx_per_sequence=512)


def run_group(
    settings: ServerSettings, copy: bool
) -> tuple[dict[int, list[Outcome]], LlamaServerProvider]:
    """The eight prompts through the scheduler; outcomes by the slot they were pinned to."""
    with LlamaServer(settings) as server:
        provider = LlamaServerProvider(
            "local",
            slots=settings.parallel,
            slot_files=server.slot_files if copy else None,
            base_url=server.base_url,
            model="embedded",
            api_key=server.api_key,
            max_concurrency=settings.requests_in_flight,
            extra_body={"cache_prompt": True},
        )
        items = [
            (i, AIRequest(PREFIX + tail, {"max_tokens": 2, "temperature": 0.0}))
            for i, tail in enumerate(TAILS)
        ]
        arranged = provider.arrange(items)
        outcomes: dict[int, Outcome] = {}

        async def go() -> None:
            try:
                await run_requests(provider, arranged, outcomes.__setitem__)
            finally:
                await provider.aclose()

        asyncio.run(go())
        assert not list(server.slot_files.iterdir())  # the copy's file is removed
    by_slot: dict[int, list[Outcome]] = {}
    for key, request in arranged:
        by_slot.setdefault(request.parameters["id_slot"], []).append(outcomes[key])
    return by_slot, provider


def test_every_slot_reads_the_prefix_from_its_cache_after_the_copy(settings):
    by_slot, provider = run_group(settings, copy=True)
    assert all(o.ok for slot in by_slot.values() for o in slot)
    assert provider.slot_copies == settings.parallel - 1 and provider.failed_slot_copies == 0
    # the leader's prompt was read by a one-token request before; so every row, the leader's
    # included, finds the prefix in its slot
    for slot, outcomes in by_slot.items():
        assert all(o.cached_tokens >= 40 for o in outcomes), slot


def test_without_the_copy_each_slot_evaluates_the_prefix_itself(settings):
    by_slot, provider = run_group(settings, copy=False)
    assert provider.slot_copies == 0
    # every slot's first request (all start together) found nothing cached
    assert all(min(o.cached_tokens for o in outcomes) == 0 for outcomes in by_slot.values())
