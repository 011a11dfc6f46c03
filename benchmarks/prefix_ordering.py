"""Does grouping requests by prompt prefix (``lakeinfer.prefix_ordering``) speed up the embedded model?

What is measured: the wall time of one statement over the embedded model (llama.cpp's
``llama-server`` with SmolLM2-135M, started by lakeinfer itself because no endpoint is
configured under the Databricks name),

    SELECT id, ai_query('databricks-meta-llama-3-3-70b-instruct', prompt,
                        modelParameters => named_struct('max_tokens', 32, 'temperature', 0.0))
    FROM main.default.prompts

once with ``SET lakeinfer.prefix_ordering = true`` (the default: distinct requests grouped by
shared prefix, each group pinned to its own llama-server slots with ``id_slot``, sent one per
slot in turn) and once with ``= false`` (requests sent in table order). The table holds
``--rows`` rows (default 32): four few-shot prompt templates of about 430 tokens each (the
seed's opinion-mining prompt from ``lakeinfer/demo/seed_opinion_mining.sql``, and ticket
triage, product-attribute extraction and review moderation prompts written here), each
applied to short review texts, the rows shuffled (``--seed``), so table order is random order.
``max_tokens = 32`` keeps decoding short, so prompt processing dominates, which is what a
prompt cache saves.

Why: llama-server keeps the prompt of each of its parallel slots (and, in recent builds, more
prompts in host memory) and reuses the longest common prefix; requests that share a template
and arrive one after the other should find it cached. The question is how much ordering adds
on top of what llama-server's own slot choice (by prefix similarity) already gets.

How: each run is a child process with a fresh lakehouse (cold response cache) and a fresh
llama-server (no slot holds anything), started before the clock starts. Prompt tokens served
from llama-server's cache are read from its log (the tokens it evaluated per task, ``prompt
eval time = ... / N tokens``) against the prompt tokens the statement reported; the log is
not part of lakeinfer's API, so these columns show ``n/a`` if its format changes.
``--parallel 8`` (default; several values allowed, e.g. ``1,2,4``) sets
``LAKEINFER_LOCAL_PARALLEL``, the number of llama-server slots.

Unless ``--no-direct`` is given, a plain aiohttp client also sends the same prompts, with the
same body and concurrency (2 per slot) as lakeinfer, to a fresh llama-server in four orders:
table order, sorted by text (what ``prefix_ordering = true`` sent before slot pinning), prefix
groups interleaved round robin, and one set of slots per prefix group (llama-server's ``id_slot``); its cache
figures are llama-server's own ``timings.cache_n``. These show what other orders could gain.
Every speed-up is the wall time of the baseline, ``prefix_ordering = false``, over the method's.

Target: ordering is at least ``--min-speedup`` (default 1.2) times faster than random order, for
every ``--parallel`` value. PASS/FAIL is printed per target; the exit status is 0 unless
``--check`` is given and a target is missed.

    python benchmarks/prefix_ordering.py [--rows N] [--parallel 8[,4...]] [--repeat K]
        [--seed S] [--min-speedup X] [--no-direct] [--format text|json] [--plot FILE.png]
        [--check]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ROOT,
    SKEWED,
    Target,
    Timer,
    emit_result,
    matplotlib_available,
    other_load,
    revision,
    run_worker,
    targets_text,
    until_unskewed,
    wait_for_quiet,
)

from lakeinfer.runtime.prefixes import prefix_groups, slot_plan  # noqa: E402

ENDPOINT = "databricks-meta-llama-3-3-70b-instruct"
TABLE = "main.default.prompts"
MAX_TOKENS = 32
QUERY = (
    f"SELECT id, ai_query('{ENDPOINT}', prompt, modelParameters => "
    f"named_struct('max_tokens', {MAX_TOKENS}, 'temperature', 0.0)) AS answer FROM {TABLE}"
)
ORDERED = "ordered"  # SET lakeinfer.prefix_ordering = true
RANDOM = "random"  # SET lakeinfer.prefix_ordering = false (table order, which is shuffled)
SEED_SQL = ROOT / "lakeinfer" / "demo" / "seed_opinion_mining.sql"


# -- the workload ---------------------------------------------------------------------------
def opinion_mining_template() -> tuple[str, str]:
    """The seed's prompt: the text before and after ``REVIEW_TEXT`` in its ``concat(...)``."""
    sql = SEED_SQL.read_text()
    match = re.search(r'concat\("(.*?)",\s*REVIEW_TEXT,\s*\'(.*?)\'\)', sql, re.S)
    if match is None:
        raise RuntimeError(f"cannot find the prompt template in {SEED_SQL}")
    head, tail = match.group(1), match.group(2)
    return head, tail.replace("\\n", "\n")


TICKET_TRIAGE = (
    """You are a customer support triage service. Given a message from a customer, output a JSON \
object with the team that should handle it, a priority, and a one-sentence summary.


AVAILABLE TEAMS
Billing, Shipping, Returns, Technical Support, Account Security, Product Feedback


PRIORITIES
P1 (customer blocked or money lost), P2 (degraded experience), P3 (question or suggestion)


Examples below:


MESSAGE
I ordered the stand mixer three weeks ago and the tracking page has said 'label created' ever \
since. I paid for express delivery because it was a birthday present and the birthday has now \
passed. Nobody answered my last two emails. I would like either the mixer delivered this week or \
my shipping fee refunded, and honestly I am starting to think about cancelling the whole order.


RESULT
{'Team': 'Shipping', 'Priority': 'P1', 'Summary': 'Express order stuck at label created for \
three weeks; customer wants delivery or a shipping refund'}


MESSAGE
The app logs me out every time I switch to another app and come back. It started after the last \
update. I can still order, it is just annoying to type my password ten times a day.


RESULT
{'Team': 'Technical Support', 'Priority': 'P2', 'Summary': 'App logs the user out on every app \
switch since the last update'}


MESSAGE
Is there a student discount on the annual plan? I could not find one on the pricing page and the \
chat assistant only sent me back to the same page.


RESULT
{'Team': 'Billing', 'Priority': 'P3', 'Summary': 'Asks whether the annual plan has a student \
discount'}


MESSAGE
""",
    "\n\nRESULT\n",
)

ATTRIBUTE_EXTRACTION = (
    """You are a product catalog assistant. Given a customer review, extract every product \
attribute the review mentions and output a JSON object. Use null for an attribute the review \
does not mention. Never guess an attribute from the product category alone. Write each value \
as the review writes it, without converting units, and list several uses separated by commas.


ATTRIBUTES
product_type, brand, color, size, material, capacity, power, price_paid, used_for


Examples below:


REVIEW
Bought the 1.7 litre stainless steel kettle from Brevio for 39 dollars. It boils fast on 1500 \
watts and the brushed finish hides fingerprints, but the lid hinge feels cheap. I use it every \
morning for tea and sometimes for instant noodles.


RESULT
{'product_type': 'kettle', 'brand': 'Brevio', 'color': null, 'size': null, 'material': \
'stainless steel', 'capacity': '1.7 litre', 'power': '1500 watts', 'price_paid': '39 dollars', \
'used_for': 'tea, instant noodles'}


REVIEW
The navy blue hoodie in size large runs small, so order one size up. Thick cotton, warm enough \
for autumn evenings on the porch, and it survived twenty washes without fading or shrinking.


RESULT
{'product_type': 'hoodie', 'brand': null, 'color': 'navy blue', 'size': 'large', 'material': \
'cotton', 'capacity': null, 'power': null, 'price_paid': null, 'used_for': 'autumn evenings'}


REVIEW
""",
    "\n\nRESULT\n",
)

REVIEW_MODERATION = (
    """You are a content moderation service for a retail website. Given a product review, decide \
whether it can be published as it is, and output a JSON object with a decision (Publish, Edit, \
Reject), the policies it breaks, and a short reason.


POLICIES
Personal data (names, phone numbers, addresses), Profanity, Off-topic (not about the product), \
Spam or links, Medical claims, Competitor promotion


DECISIONS
Publish: nothing to remove. Edit: publish once the listed parts are removed. Reject: nothing of \
value remains once the listed parts are removed.


Examples below:


REVIEW
Worst vacuum ever. The battery died after two weeks and customer service never called back. If \
you want one that works, buy the CleanMax from the shop down the road, call Dave on 555 0134 and \
he will sort you out.


RESULT
{'Decision': 'Edit', 'Policies': ['Personal data', 'Competitor promotion'], 'Reason': 'Remove \
the phone number and the recommendation of a competing product; the complaint itself can stay'}


REVIEW
These socks cured my back pain and lowered my blood pressure within a week. Comfortable too.


RESULT
{'Decision': 'Edit', 'Policies': ['Medical claims'], 'Reason': 'Health claims cannot be \
published; the comfort remark can'}


REVIEW
Arrived quickly, fits my 2019 hatchback, and the rubber does not smell. Would buy again.


RESULT
{'Decision': 'Publish', 'Policies': [], 'Reason': 'On-topic product feedback with nothing to \
remove'}


REVIEW
""",
    "\n\nRESULT\n",
)

REVIEWS = (
    "The blender is loud but crushes ice in seconds. Cleaning the blades is a pain.",
    "Great price, but the handle snapped off after a month of normal use.",
    "My order arrived two days late and the box was crushed, the lamp inside was fine though.",
    "Battery lasts all weekend on one charge. The charging port feels loose already.",
    "I was charged twice for the same headphones and nobody answers the billing email.",
    "Soft fabric, true to size, and the green is exactly like the photo. Very happy.",
    "The app keeps crashing when I try to pair the scale over Bluetooth.",
    "Returned it: the mattress smelled of chemicals for a week and gave me headaches.",
    "Sturdy steel frame, easy to assemble in twenty minutes, fits a 65 inch TV.",
    "The coffee grinder is quiet and consistent, but the hopper only holds 200 grams.",
    "Password reset link expired before it even reached my inbox. Still locked out.",
    "Cheap plastic feel, the lid does not close properly and leaks in my bag.",
    "This drill is powerful enough for brick and the two batteries swap quickly.",
    "Delivery driver left the parcel in the rain; the book cover is warped.",
    "Love the color options, ordered the red one in medium and it fits perfectly.",
    "The air fryer cooks evenly but the nonstick coating started peeling in week three.",
)

TEMPLATES: dict[str, tuple[str, str]] = {
    "opinion mining (seed)": opinion_mining_template(),
    "ticket triage": TICKET_TRIAGE,
    "attribute extraction": ATTRIBUTE_EXTRACTION,
    "review moderation": REVIEW_MODERATION,
}


def workload(rows: int, seed: int) -> list[tuple[int, str, str]]:
    """``(id, template name, prompt)`` in shuffled table order; every prompt distinct.

    Row ``i`` uses template ``i % 4`` and, for the ``j``-th row of template ``k``, review
    ``(j + 4k) % 16``: each template meets distinct reviews, so no two requests are equal
    (the engine would answer equal requests once) and no prompt has a template of its own.
    """
    names = list(TEMPLATES)
    if rows > len(names) * len(REVIEWS):
        raise ValueError(f"at most {len(names) * len(REVIEWS)} rows (distinct prompts)")
    table = []
    for i in range(rows):
        k, j = i % len(names), i // len(names)
        head, tail = TEMPLATES[names[k]]
        review = REVIEWS[(j + 4 * k) % len(REVIEWS)]
        table.append((i, names[k], head + review + tail))
    random.Random(seed).shuffle(table)
    return table


def sql_string(text: str) -> str:
    """A Databricks SQL string literal (backslash escapes) holding exactly ``text``."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def prepare_lakehouse(home: Path, table: list[tuple[int, str, str]]) -> None:
    """The prompts table, written by SQL in the shuffled order; read back and compared."""
    import lakeinfer

    values = ", ".join(f"({i}, {sql_string(name)}, {sql_string(p)})" for i, name, p in table)
    with lakeinfer.connect(home=home, progress=False, notice=lambda m: None) as session:
        session.sql(f"CREATE TABLE {TABLE} (id BIGINT, template STRING, prompt STRING)")
        session.sql(f"INSERT INTO {TABLE} VALUES {values}")
        stored = session.sql(f"SELECT id, template, prompt FROM {TABLE}").to_arrow()
    if [tuple(r.values()) for r in stored.to_pylist()] != table:
        raise RuntimeError("the prompts table differs from the workload (escaping or order)")


# -- the direct client: other orders the engine could send ----------------------------------
def interleave(groups: list[list[int]]) -> list[int]:
    """Round robin over the groups: the requests in flight at any time have distinct prefixes."""
    longest = max((len(g) for g in groups), default=0)
    return [g[i] for i in range(longest) for g in groups if i < len(g)]


async def direct_client(
    base_url: str,
    api_key: str,
    texts: list[str],
    order: list[int],
    slots: dict[int, int] | None,
    concurrency: int,
) -> list[dict[str, int]]:
    """Send ``texts`` in ``order`` with the same body lakeinfer sends to the embedded model
    (plus ``id_slot`` when ``slots`` is given); returns llama-server's usage per request."""
    import asyncio

    import aiohttp

    semaphore = asyncio.Semaphore(concurrency)
    results: list[dict[str, int]] = []
    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def one(index: int) -> None:
            body: dict[str, Any] = {
                "model": "embedded",
                "messages": [{"role": "user", "content": texts[index]}],
                "cache_prompt": True,
                "max_tokens": MAX_TOKENS,
                "temperature": 0.0,
            }
            if slots is not None:
                body["id_slot"] = slots[index]
            async with semaphore, http.post(f"{base_url}/chat/completions", json=body) as r:
                r.raise_for_status()
                answer = await r.json()
            results.append(
                {
                    "prompt_tokens": int(answer["usage"]["prompt_tokens"]),
                    "completion_tokens": int(answer["usage"]["completion_tokens"]),
                    "cache_n": int(answer["timings"]["cache_n"]),
                    "answered": int(bool(answer["choices"][0]["message"]["content"])),
                }
            )

        await asyncio.gather(*(one(i) for i in order))
    return results


# -- the worker (a child process: one timed run on a fresh llama-server) --------------------
EVAL_LINE = re.compile(r"prompt eval time =\s*[\d.]+ ms /\s*(\d+) tokens")
LAKEINFER_ORDERED = "lakeinfer, prefix_ordering = true"
LAKEINFER_RANDOM = "lakeinfer, prefix_ordering = false"
DIRECT_TABLE = "direct: table order"
DIRECT_SORTED = "direct: sorted by text"
DIRECT_INTERLEAVED = "direct: groups interleaved"
DIRECT_AFFINITY = "direct: slot per group"
BASELINE = LAKEINFER_RANDOM
LAKEINFER_METHODS = (LAKEINFER_ORDERED, LAKEINFER_RANDOM)
DIRECT_METHODS = (DIRECT_TABLE, DIRECT_SORTED, DIRECT_INTERLEAVED, DIRECT_AFFINITY)


def worker_main(spec: dict[str, Any]) -> int:
    method = spec["method"]
    if method in LAKEINFER_METHODS:
        result = _lakeinfer_worker(spec)
    else:
        result = _direct_worker(spec)
    emit_result(spec, result)
    return 0


def _lakeinfer_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import lakeinfer
    from lakeinfer.endpoints.llama_server import shared_server

    server = shared_server()  # started (and healthy) before the clock starts
    log_before = len(server.log_tail(1_000_000).split(" | "))
    with lakeinfer.connect(home=spec["home"], progress=False, notice=lambda m: None) as session:
        flag = "true" if spec["method"] == LAKEINFER_ORDERED else "false"
        session.sql(f"SET lakeinfer.prefix_ordering = {flag}")
        with Timer() as timer:
            table = session.sql(QUERY).to_arrow()
        stats = session.last_stats
    lines = server.log_tail(1_000_000).split(" | ")[log_before:]
    evaluated = [int(m.group(1)) for line in lines if (m := EVAL_LINE.search(line))]
    answers = table.column("answer")
    requests = stats.ai.requests if stats else 0
    prompt_tokens = stats.ai.prompt_tokens if stats else 0
    return {
        "seconds": timer.seconds,
        "rows": table.num_rows,
        "answered": len(answers) - answers.null_count,
        "requests": requests,
        "prompt_tokens": prompt_tokens,
        # from llama-server's log: the prompt tokens it had to evaluate, one line per task
        "cached_tokens": prompt_tokens - sum(evaluated) if len(evaluated) == requests else None,
    }


def _direct_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    from lakeinfer.endpoints.llama_server import LlamaServer, ServerSettings

    texts = [prompt for _, _, prompt in workload(spec["rows"], spec["seed"])]
    groups = prefix_groups(texts)
    settings = ServerSettings.from_env()
    method, slots = spec["method"], None
    if method == DIRECT_TABLE:
        order = list(range(len(texts)))
    elif method == DIRECT_SORTED:
        order = sorted(range(len(texts)), key=texts.__getitem__)
    else:
        order = interleave(groups)
        if method == DIRECT_AFFINITY:
            slots = slot_plan(groups, settings.parallel)
    concurrency = settings.requests_in_flight  # as lakeinfer drives it
    with LlamaServer(settings) as server:
        with Timer() as timer:
            usage = asyncio.run(
                direct_client(server.base_url, server.api_key, texts, order, slots, concurrency)
            )
    return {
        "seconds": timer.seconds,
        "rows": len(usage),
        "answered": sum(u["answered"] for u in usage),
        "requests": len(usage),
        "prompt_tokens": sum(u["prompt_tokens"] for u in usage),
        "cached_tokens": sum(u["cache_n"] for u in usage),
        "groups": len(groups),
    }


# -- measuring ------------------------------------------------------------------------------
@dataclass
class Measurement:
    """The fastest run of one method at one ``--parallel`` value."""

    method: str
    parallel: int
    seconds: float
    rows_per_s: float
    speedup_vs_baseline: float  # the baseline's seconds / these seconds
    prompt_tokens: int
    cached_tokens: int | None  # prompt tokens llama-server served from its cache
    cached_share: float | None
    skewed: bool  # other processes took over SKEWED of the machine in every attempt
    runs_s: list[float] = field(default_factory=list)


def run_once(
    method: str, parallel: int, table: list[tuple[int, str, str]], seed: int
) -> dict[str, Any]:
    """One checked run; tried again (``ATTEMPTS`` in all) while other processes take more than
    ``SKEWED`` of the machine (llama-server uses every core, so they slow it directly)."""
    return until_unskewed(method, lambda: _run_checked(method, parallel, table, seed))


def _run_checked(
    method: str, parallel: int, table: list[tuple[int, str, str]], seed: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lakeinfer-prefix-") as tmp:
        spec: dict[str, Any] = {"method": method, "rows": len(table), "seed": seed}
        if method in LAKEINFER_METHODS:
            home = Path(tmp) / "lakehouse"
            prepare_lakehouse(home, table)
            spec["home"] = str(home)
        wait_for_quiet()
        result = run_worker(
            Path(__file__),
            spec,
            cpus=None,
            timeout_s=600.0,
            env={"LAKEINFER_LOCAL_PARALLEL": str(parallel)},
        )
    rows = len(table)
    if result["rows"] != rows or result["answered"] != rows or result["requests"] != rows:
        raise RuntimeError(
            f"{method}: {result['rows']} rows, {result['answered']} answers, "
            f"{result['requests']} requests; expected {rows} of each"
        )
    if result.get("groups", len(TEMPLATES)) != len(TEMPLATES):
        raise RuntimeError(
            f"{method}: found {result['groups']} prefix groups, expected {len(TEMPLATES)}"
        )
    other_load(result)  # the worker's CPU time includes its llama-server's
    return result


def measure(
    parallel: int,
    table: list[tuple[int, str, str]],
    seed: int,
    repeat: int,
    methods: tuple[str, ...],
) -> dict[str, Measurement]:
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for r in range(repeat):  # alternate the order of the methods between repeats
        for method in methods if r % 2 == 0 else methods[::-1]:
            print(f"  {parallel} slots: {method} ...", file=sys.stderr, flush=True)
            runs[method].append(run_once(method, parallel, table, seed))
    best = {m: min(r, key=lambda x: x["seconds"]) for m, r in runs.items()}
    results = {}
    for method, run in best.items():
        cached = run["cached_tokens"]
        results[method] = Measurement(
            method=method,
            parallel=parallel,
            seconds=run["seconds"],
            rows_per_s=len(table) / run["seconds"],
            speedup_vs_baseline=best[BASELINE]["seconds"] / run["seconds"],
            prompt_tokens=run["prompt_tokens"],
            cached_tokens=cached,
            cached_share=None if cached is None else cached / max(1, run["prompt_tokens"]),
            skewed=run["skewed"],
            runs_s=[x["seconds"] for x in runs[method]],
        )
    return results


# -- reporting ------------------------------------------------------------------------------
Report = list[tuple[int, dict[str, Measurement]]]


def targets(report: Report, min_speedup: float) -> list[Target]:
    return [
        Target(
            f"{parallel} slots: {LAKEINFER_ORDERED} >= {min_speedup:g}x {BASELINE}",
            results[LAKEINFER_ORDERED].speedup_vs_baseline,
            min_speedup,
            unit="x",
        )
        for parallel, results in report
    ]


def describe(table: list[tuple[int, str, str]]) -> str:
    first = "".join(name[0] for _, name, _ in table[:16])
    return (
        f"prefix ordering on the embedded model: {len(table)} rows, {len(TEMPLATES)} few-shot "
        f"templates (~400 tokens each), max_tokens {MAX_TOKENS}; table order, by template "
        f"initial: {first}..."
    )


def report_text(table: list[tuple[int, str, str]], report: Report, goals: list[Target]) -> str:
    lines = [
        f"revision {revision()}",
        describe(table),
        f"{'slots':>5}  {'method':<36} {'seconds':>8} {'rows/s':>7} {'speed-up':>9} "
        f"{'prompt tok':>11} {'cached tok':>11} {'cached':>7}",
    ]
    for parallel, results in report:
        for m in results.values():
            cached = "n/a" if m.cached_tokens is None else str(m.cached_tokens)
            share = "n/a" if m.cached_share is None else f"{m.cached_share:.0%}"
            lines.append(
                f"{parallel:>5}  {m.method:<36} {m.seconds:>8.1f} {m.rows_per_s:>7.2f} "
                f"{m.speedup_vs_baseline:>8.2f}x {m.prompt_tokens:>11} {cached:>11} {share:>7}"
                f"{' *' if m.skewed else ''}"
            )
    lines.append(
        f"speed-up: the wall time of '{BASELINE}' (requests in table order, i.e. "
        f"random) over the method's; cached: prompt tokens llama-server served from "
        f"its prompt cache"
    )
    if any(m.skewed for _, results in report for m in results.values()):
        lines.append(
            f"* other processes used over {SKEWED:.0%} of the machine's CPU time during this "
            f"run, in every attempt: its figures are skewed"
        )
    lines += targets_text(goals)
    return "\n".join(lines)


def report_json(table: list[tuple[int, str, str]], report: Report, goals: list[Target]) -> str:
    document = {
        "revision": revision(),
        "rows": len(table),
        "templates": list(TEMPLATES),
        "table_order": [name for _, name, _ in table],
        "max_tokens": MAX_TOKENS,
        "baseline": BASELINE,
        "slots": {
            str(parallel): {name: asdict(m) for name, m in results.items()}
            for parallel, results in report
        },
        "targets": [g.as_dict() for g in goals],
        "passed": all(g.passed for g in goals),
    }
    return json.dumps(document, indent=2)


COLORS = {
    LAKEINFER_ORDERED: "tab:blue",
    LAKEINFER_RANDOM: "tab:gray",
    DIRECT_TABLE: "silver",
    DIRECT_SORTED: "lightsteelblue",
    DIRECT_INTERLEAVED: "tab:olive",
    DIRECT_AFFINITY: "tab:green",
}


def plot(path: Path, table: list[tuple[int, str, str]], report: Report, min_speedup: float) -> None:
    """Per slot count: wall seconds per method (left) and cached prompt share (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(report[0][1])
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / len(methods)
    xs = list(range(len(report)))
    labels = [f"{parallel} slot{'s' if parallel > 1 else ''}" for parallel, _ in report]
    for i, method in enumerate(methods):
        offsets = [x - 0.4 + width * (i + 0.5) for x in xs]
        seconds = [results[method].seconds for _, results in report]
        bars = left.bar(offsets, seconds, width, color=COLORS[method], label=method)
        left.bar_label(bars, labels=[f"{v:.0f}" for v in seconds], fontsize=8)
        shares = [results[method].cached_share or 0.0 for _, results in report]
        bars = right.bar(
            offsets, [v * 100 for v in shares], width, color=COLORS[method], label=method
        )
        right.bar_label(bars, labels=[f"{v:.0%}" for v in shares], fontsize=8)
    top = max(m.seconds for _, results in report for m in results.values())
    verdicts = []
    for label, (_, results) in zip(labels, report, strict=True):
        ratio = results[LAKEINFER_ORDERED].speedup_vs_baseline
        verdict = "PASS" if ratio >= min_speedup else "FAIL"
        verdicts.append(f"{label}\n{ratio:.2f}x {verdict}")
    left.set_ylim(0, top * 1.15)
    left.set_xticks(xs, verdicts, fontsize=9)
    left.set_xlabel("slots; speed-up of ordered over random order, vs the target", fontsize=9)
    left.set_ylabel("wall seconds (lower is better)")
    left.set_title(
        f"{len(table)} rows, {len(TEMPLATES)} templates, max_tokens {MAX_TOKENS}; "
        f"target: ordered >= {min_speedup:g}x random",
        fontsize=10,
    )
    right.set_xticks(xs, labels)
    right.set_ylim(0, 110)
    right.set_ylabel("prompt tokens served from cache (%)")
    right.set_title("llama-server prompt cache hits", fontsize=10)
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command line ---------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=32, help="rows (distinct prompts, <= 64)")
    parser.add_argument(
        "--parallel",
        default="8",
        help="llama-server slots (LAKEINFER_LOCAL_PARALLEL), e.g. 8 or 4,8,16",
    )
    parser.add_argument("--repeat", type=int, default=1, help="best of K runs per mode")
    parser.add_argument("--seed", type=int, default=7, help="seed of the table's shuffle")
    parser.add_argument("--min-speedup", type=float, default=1.2, help="the target")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="bar charts")
    parser.add_argument(
        "--no-direct",
        action="store_true",
        help="skip the direct-client orders (lakeinfer's two runs only)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.parallel = [int(p) for p in str(args.parallel).split(",")]
    except ValueError:
        parser.error("--parallel takes integers separated by commas")
    if args.rows < 1 or args.repeat < 1 or min(args.parallel) < 1:
        parser.error("--rows, --repeat and --parallel must be positive")
    if args.rows > len(TEMPLATES) * len(REVIEWS):
        parser.error(f"--rows: at most {len(TEMPLATES) * len(REVIEWS)} (distinct prompts)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(json.loads(args.worker))
    can_plot = args.plot is not None and matplotlib_available()
    if args.plot is not None and not can_plot:
        print("--plot needs matplotlib: pip install matplotlib (no plot written)", file=sys.stderr)
    table = workload(args.rows, args.seed)
    methods = LAKEINFER_METHODS + (() if args.no_direct else DIRECT_METHODS)
    report: Report = [
        (p, measure(p, table, args.seed, args.repeat, methods)) for p in args.parallel
    ]
    goals = targets(report, args.min_speedup)
    render = report_json if args.format == "json" else report_text
    print(render(table, report, goals), flush=True)
    if can_plot:
        plot(args.plot, table, report, args.min_speedup)
        print(f"plot written to {args.plot}", file=sys.stderr)
    missed = not all(g.passed for g in goals)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
