"""The embedded chat model (SmolLM2-135M, llama.cpp's ``llama-server``): batching, prefix reuse.

Two measurements, each a ratio against a baseline measured in the same run, on the same
server build and settings (``lakeinfer.endpoints.llama_server.LlamaServer`` with
``ServerSettings(parallel=--parallel)``, exactly what lakeinfer starts for the embedded model):

1. **Batching.** ``--rows`` (default 16) distinct short prompts (no prompt shares more than
   the chat template with another, and ``cache_prompt`` is off, so no cache helps),
   ``max_tokens`` fixed (``--max-tokens``, default 48), temperature 0 and ``ignore_eos``, so
   every row decodes exactly ``max_tokens`` tokens. Aggregate output tokens/s with
   ``--parallel`` rows in flight (llama-server's parallel slots, continuous batching) versus
   the same prompts one row at a time. Target: >= 2x.
2. **Prefix reuse.** ``--prefix-rows`` prompts (default 32) built from the seed's
   opinion-mining few-shot prompt (``lakeinfer/demo/seed_opinion_mining.sql``, about 430
   tokens) with a different review text appended to each, ``max_tokens``
   ``--prefix-max-tokens`` (default 32), ``--parallel`` rows in flight. Rows/s with
   llama-server's prompt cache on (``cache_prompt: true``, as lakeinfer sends it) versus off
   (``cache_prompt: false``). Target: >= 2.5x. With the cache on, the first ``--parallel``
   rows start together and each slot evaluates the prefix itself; later rows find it cached,
   so the gain is bounded by about rows / slots (4 with the defaults): fewer rows per slot
   cannot reach the target.

How: the requests are sent by a plain ``aiohttp`` client with the body lakeinfer sends to the
embedded model (one user message, ``model: embedded``), not through ``ai_query``: lakeinfer
always sends ``cache_prompt: true`` and keeps twice as many requests in flight as there are
slots, so only a direct client can vary one thing at a time and keep everything else equal.
Each timed run gets a fresh ``llama-server`` (no slot holds anything from an earlier run),
started and warmed with one unrelated request before the clock starts. Checks: every row gets a
non-empty answer; in the batching runs every row decoded exactly ``max_tokens`` tokens; with
the cache off llama-server reused no prompt token (its ``timings.cache_n`` is 0 for every
row), and with it on it reused some. A failed check stops the benchmark with an error.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Target, revision, targets_text  # noqa: E402
from prefix_ordering import REVIEWS, opinion_mining_template  # noqa: E402

from lakeinfer.endpoints.llama_server import (  # noqa: E402
    EMBEDDED_MODEL_NAME,
    LlamaServer,
    ServerSettings,
)

BATCHED = "batched"
ONE_AT_A_TIME = "one at a time"
CACHE_ON = "prompt cache on"
CACHE_OFF = "prompt cache off"
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
        }


async def send_all(
    server: LlamaServer, prompts: list[str], concurrency: int, extra: dict[str, Any]
) -> list[dict[str, Any]]:
    """Send every prompt (``concurrency`` in flight) and return llama-server's answers, in
    prompt order."""
    import aiohttp

    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {server.api_key}"}
    url = f"{server.base_url}/chat/completions"
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:

        async def one(prompt: str) -> dict[str, Any]:
            body = {
                "model": "embedded",
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0.0,
                **extra,
            }
            async with semaphore, http.post(url, json=body) as response:
                if response.status != 200:
                    raise RuntimeError(
                        f"llama-server answered {response.status}: {(await response.text())[:200]}"
                    )
                answer: dict[str, Any] = await response.json()
                return answer

        return list(await asyncio.gather(*(one(p) for p in prompts)))


def timed_run(
    settings: ServerSettings,
    method: str,
    prompts: list[str],
    concurrency: int,
    extra: dict[str, Any],
    exact_tokens: int | None = None,
    cache_expected: bool | None = None,
) -> Run:
    """One run on a fresh, warmed server, checked (see the module docstring)."""
    with LlamaServer(settings) as server:
        warm = {"max_tokens": 4, "cache_prompt": False}
        asyncio.run(send_all(server, ["Say hello."], 1, warm))
        started = time.perf_counter()
        answers = asyncio.run(send_all(server, prompts, concurrency, extra))
        seconds = time.perf_counter() - started
    if len(answers) != len(prompts):
        raise RuntimeError(f"{method}: {len(answers)} answers for {len(prompts)} rows")
    completion = prompt = cached = 0
    for row, answer in enumerate(answers):
        text = answer["choices"][0]["message"]["content"]
        if not text or not text.strip():
            raise RuntimeError(f"{method}: row {row} got an empty answer")
        tokens = int(answer["usage"]["completion_tokens"])
        if exact_tokens is not None and tokens != exact_tokens:
            raise RuntimeError(f"{method}: row {row} decoded {tokens} tokens, not {exact_tokens}")
        row_cached = int(answer.get("timings", {}).get("cache_n", 0))
        if cache_expected is False and row_cached:
            raise RuntimeError(f"{method}: row {row} reused {row_cached} cached prompt tokens")
        completion += tokens
        prompt += int(answer["usage"]["prompt_tokens"])
        cached += row_cached
    if cache_expected and not cached:
        raise RuntimeError(f"{method}: llama-server reused no prompt token with the cache on")
    return Run(method, len(prompts), concurrency, seconds, completion, prompt, cached)


def measure(args: argparse.Namespace) -> dict[str, Run]:
    """Best of ``--repeat`` runs per method, the methods interleaved so a busy moment on the
    machine hits each of them."""
    settings = ServerSettings.from_env()
    settings = ServerSettings(
        model_path=settings.model_path,
        parallel=args.parallel,
        threads=settings.threads,
        ctx_per_sequence=settings.ctx_per_sequence,
    )
    short, shared = batching_prompts(args.rows), prefix_prompts(args.prefix_rows)
    decode = {"max_tokens": args.max_tokens, "ignore_eos": True, "cache_prompt": False}
    mine = {"max_tokens": args.prefix_max_tokens}
    plans = [
        (BATCHED, short, args.parallel, decode, args.max_tokens, None),
        (ONE_AT_A_TIME, short, 1, decode, args.max_tokens, None),
        (CACHE_ON, shared, args.parallel, {**mine, "cache_prompt": True}, None, True),
        (CACHE_OFF, shared, args.parallel, {**mine, "cache_prompt": False}, None, False),
    ]
    best: dict[str, Run] = {}
    for _ in range(args.repeat):
        for method, prompts, concurrency, extra, exact, cache in plans:
            print(f"  {method} ...", file=sys.stderr, flush=True)
            run = timed_run(settings, method, prompts, concurrency, extra, exact, cache)
            if method not in best or run.seconds < best[method].seconds:
                best[method] = run
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
            f"prefix reuse: rows/s, {CACHE_ON} / {CACHE_OFF}",
            runs[CACHE_ON].rows_per_s / runs[CACHE_OFF].rows_per_s,
            MIN_PREFIX,
            unit="x",
        ),
    ]


def report_text(
    args: argparse.Namespace, measured: str, runs: dict[str, Run], goals: list[Target]
) -> str:
    lines = [
        f"{EMBEDDED_MODEL_NAME}, llama-server --parallel {args.parallel}, "
        f"{args.rows} rows per batching run, {args.prefix_rows} per prefix run, "
        f"best of {args.repeat}, revision {measured}",
        f"{'method':18s} {'in flight':>9s} {'seconds':>8s} {'rows/s':>8s} {'out tok/s':>10s} "
        f"{'prompt tok':>10s} {'cached':>8s}",
    ]
    for run in runs.values():
        lines.append(
            f"{run.method:18s} {run.concurrency:9d} {run.seconds:8.2f} {run.rows_per_s:8.2f} "
            f"{run.tokens_per_s:10.1f} {run.prompt_tokens:10d} {run.cached_tokens:8d}"
        )
    lines += targets_text(goals)
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=16, help="rows (distinct prompts) per run")
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
            "methods": {name: run.as_dict() for name, run in runs.items()},
            "targets": [goal.as_dict() for goal in goals],
        }
        print(json.dumps(report, indent=2))
    else:
        print(report_text(args, measured, runs, goals))
    return 1 if args.check and not all(goal.passed for goal in goals) else 0


if __name__ == "__main__":
    sys.exit(main())
