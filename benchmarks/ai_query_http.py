"""Throughput of ``ai_query`` over HTTP, against the client loops a user would write by hand.

What is measured: the wall time of one statement,

    SELECT id, ai_query('bench', 'Summarize: ' || text) AS summary FROM main.default.bench_input

consumed with ``Result.to_arrow()``, over a Delta table of ``--rows`` rows (default 10,000)
whose prompts are all distinct (a cold cache: the engine answers identical requests once per
statement, so distinct prompts force one HTTP request per row). The endpoint is the project's
fake OpenAI-compatible server (:mod:`lakeinfer.testing.fake_openai`) in its own process on
127.0.0.1, answering every chat completion after ``--latency-ms`` (default 50 ms); the endpoint
allows ``--concurrency`` requests in flight (default 64). Set-up (lakehouse, ``config.toml``,
table) is not timed.

Why: with a fixed server latency the best possible throughput is ``concurrency / latency``
(64 / 0.05 s = 1280 rows/s), so the ratio to that ideal says how much the client side (SQL
engine, scheduler, HTTP client, Python) costs. The same prompts are also sent by

* an ``openai.AsyncOpenAI`` + ``asyncio.Semaphore`` loop (what most users write by hand), and
* a bare ``aiohttp`` + ``asyncio.Semaphore`` loop (about the best a Python client can do),

each against a fresh server, so the figures compare like with like. Every run checks that the
server counted exactly one request per row and that every row got a non-null answer.

Targets (the project's claim): lakeinfer reaches at least 0.9 of the ideal and at least 1.4x
the openai SDK loop. PASS/FAIL is printed per target; the exit status is 0 unless ``--check``
is given and a target is missed.

    python benchmarks/ai_query_http.py [--rows N] [--latency-ms MS] [--concurrency C]
        [--repeat K] [--format text|json] [--plot FILE.png] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.testing.fake_openai import FakeOpenAIServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Timer, aiohttp_loop, matplotlib_available, openai_loop  # noqa: E402

ENDPOINT = "bench"
MODEL = "bench"
TABLE = "main.default.bench_input"
QUERY = f"SELECT id, ai_query('{ENDPOINT}', 'Summarize: ' || text) AS summary FROM {TABLE}"
MIN_OF_IDEAL = 0.9
MIN_VS_OPENAI = 1.4

LAKEINFER = "lakeinfer ai_query"
OPENAI_LOOP = "openai SDK loop"
AIOHTTP_LOOP = "aiohttp loop"


@dataclass(frozen=True)
class Settings:
    rows: int
    latency_ms: float
    concurrency: int

    @property
    def ideal_rows_per_s(self) -> float:
        return self.concurrency / (self.latency_ms / 1000.0)


@dataclass
class Measurement:
    """The best of the runs of one method (best = shortest wall time)."""

    method: str
    seconds: float
    client_cpu_s: float
    rows_per_s: float
    ratio_to_ideal: float
    peak_in_flight: int
    runs_s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    threshold: float

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold


@dataclass(frozen=True)
class Run:
    """One timed run: wall seconds, this process's CPU seconds (all threads), answers."""

    seconds: float
    cpu_s: float
    answered: int


# One run of a method against the server at the given base URL.
Runner = Callable[[str, Settings], Run]


# -- the workload ---------------------------------------------------------------------------
def row_text(i: int) -> str:
    """The ``text`` of row ``i``; the SQL below builds the same strings."""
    return f"row {i} of the benchmark"


def prompts(rows: int) -> list[str]:
    return [f"Summarize: {row_text(i)}" for i in range(rows)]


def prepare_lakehouse(home: Path, base_url: str, settings: Settings) -> None:
    """Write ``config.toml`` with the endpoint, then create and fill the table with SQL."""
    endpoint = make_endpoint(base_url=base_url, model=MODEL, max_concurrency=settings.concurrency)
    save_config(home, LakeinferConfig(endpoints={ENDPOINT: endpoint}))
    with lakeinfer.connect(home=home, progress=False, notice=lambda m: None) as session:
        session.sql(f"CREATE TABLE {TABLE} (id BIGINT, text STRING)")
        session.sql(
            f"INSERT INTO {TABLE} SELECT id, 'row ' || CAST(id AS STRING) || ' of the benchmark'"
            f" FROM range({settings.rows})"
        )


# -- the three methods ----------------------------------------------------------------------
def run_lakeinfer(base_url: str, settings: Settings) -> Run:
    with tempfile.TemporaryDirectory(prefix="lakeinfer-bench-") as tmp:
        home = Path(tmp)
        prepare_lakehouse(home, base_url, settings)
        with lakeinfer.connect(home=home, progress=False, notice=lambda m: None) as session:
            with Timer() as timer:
                table = session.sql(QUERY).to_arrow()
    summary = table.column("summary")
    if table.num_rows != settings.rows:
        raise RuntimeError(f"lakeinfer returned {table.num_rows} rows, expected {settings.rows}")
    return Run(timer.seconds, timer.cpu_s, len(summary) - summary.null_count)


async def _openai_loop(base_url: str, texts: list[str], concurrency: int) -> int:
    return await openai_loop(base_url, MODEL, texts, concurrency)


async def _aiohttp_loop(base_url: str, texts: list[str], concurrency: int) -> int:
    return await aiohttp_loop(base_url, MODEL, texts, concurrency)


def timed_loop(loop: Callable[[str, list[str], int], Any]) -> Runner:
    """A :data:`Runner` that times ``asyncio.run`` of a client loop (client set-up included)."""

    def run(base_url: str, settings: Settings) -> Run:
        texts = prompts(settings.rows)
        with Timer() as timer:
            answered = asyncio.run(loop(base_url, texts, settings.concurrency))
        return Run(timer.seconds, timer.cpu_s, answered)

    return run


METHODS: dict[str, Runner] = {
    LAKEINFER: run_lakeinfer,
    OPENAI_LOOP: timed_loop(_openai_loop),
    AIOHTTP_LOOP: timed_loop(_aiohttp_loop),
}


# -- measuring ------------------------------------------------------------------------------
def run_once(method: str, runner: Runner, settings: Settings) -> tuple[Run, int]:
    """One checked run against a fresh server; returns it with the peak requests in flight."""
    with FakeOpenAIServer(latency_ms=settings.latency_ms, keep_bodies=False) as server:
        run = runner(server.base_url, settings)
        stats = server.stats()
    if stats["chat"] != settings.rows:
        raise RuntimeError(
            f"{method}: the server counted {stats['chat']} requests, expected {settings.rows}"
        )
    if run.answered != settings.rows:
        raise RuntimeError(f"{method}: {run.answered} non-null answers, expected {settings.rows}")
    return run, int(stats["max_in_flight"])


def measure(method: str, runner: Runner, settings: Settings, repeat: int) -> Measurement:
    runs = [run_once(method, runner, settings) for _ in range(repeat)]
    best, peak = min(runs, key=lambda r: r[0].seconds)
    rows_per_s = settings.rows / best.seconds
    return Measurement(
        method=method,
        seconds=best.seconds,
        client_cpu_s=best.cpu_s,
        rows_per_s=rows_per_s,
        ratio_to_ideal=rows_per_s / settings.ideal_rows_per_s,
        peak_in_flight=peak,
        runs_s=[r.seconds for r, _ in runs],
    )


def targets(results: dict[str, Measurement]) -> list[Target]:
    lake, sdk = results[LAKEINFER], results[OPENAI_LOOP]
    return [
        Target(f"{LAKEINFER} >= {MIN_OF_IDEAL:g} of ideal", lake.ratio_to_ideal, MIN_OF_IDEAL),
        Target(
            f"{LAKEINFER} >= {MIN_VS_OPENAI:g}x {OPENAI_LOOP}",
            lake.rows_per_s / sdk.rows_per_s,
            MIN_VS_OPENAI,
        ),
    ]


# -- reporting ------------------------------------------------------------------------------
def report_text(settings: Settings, results: dict[str, Measurement], goals: list[Target]) -> str:
    sdk = results[OPENAI_LOOP].rows_per_s
    lines = [
        f"ai_query over HTTP: {settings.rows} rows, server latency {settings.latency_ms:g} ms, "
        f"concurrency {settings.concurrency}; ideal {settings.ideal_rows_per_s:.0f} rows/s",
        f"{'method':<20} {'seconds':>8} {'rows/s':>8} {'of ideal':>9} {'vs openai':>10} "
        f"{'client CPU s':>13} {'peak in flight':>15}",
    ]
    for m in results.values():
        lines.append(
            f"{m.method:<20} {m.seconds:>8.2f} {m.rows_per_s:>8.0f} {m.ratio_to_ideal:>9.2f} "
            f"{m.rows_per_s / sdk:>9.2f}x {m.client_cpu_s:>13.2f} {m.peak_in_flight:>15}"
        )
    lines.append("targets:")
    for goal in goals:
        verdict = "PASS" if goal.passed else "FAIL"
        lines.append(f"  {goal.name}: {goal.value:.2f}  {verdict}")
    return "\n".join(lines)


def report_json(settings: Settings, results: dict[str, Measurement], goals: list[Target]) -> str:
    sdk = results[OPENAI_LOOP].rows_per_s
    document = {
        **asdict(settings),
        "ideal_rows_per_s": settings.ideal_rows_per_s,
        "methods": {
            name: {**asdict(m), "ratio_to_openai_loop": m.rows_per_s / sdk}
            for name, m in results.items()
        },
        "targets": [
            {"name": g.name, "value": g.value, "threshold": g.threshold, "passed": g.passed}
            for g in goals
        ],
        "passed": all(g.passed for g in goals),
    }
    return json.dumps(document, indent=2)


def plot(path: Path, settings: Settings, results: dict[str, Measurement]) -> None:
    """A bar per method (rows/s) with the ideal as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    values = [results[n].rows_per_s for n in names]
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(names, values, color=["tab:blue", "tab:gray", "tab:olive"][: len(names)])
    ax.bar_label(bars, labels=[f"{v:.0f}" for v in values])
    ax.axhline(settings.ideal_rows_per_s, color="tab:red", linestyle="--")
    ax.text(
        len(names) - 0.5,
        settings.ideal_rows_per_s,
        f"ideal {settings.ideal_rows_per_s:.0f}",
        color="tab:red",
        ha="right",
        va="bottom",
    )
    ax.set_ylabel("rows/s")
    ax.set_ylim(0, max([*values, settings.ideal_rows_per_s]) * 1.15)
    ax.set_title(
        f"ai_query over HTTP: {settings.rows} rows, {settings.latency_ms:g} ms latency, "
        f"concurrency {settings.concurrency}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- command line ---------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows (distinct prompts)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server latency")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--repeat", type=int, default=1, help="best of K runs per method")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="bar chart of rows/s")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.concurrency < 1 or args.repeat < 1 or args.latency_ms <= 0:
        parser.error("--rows, --concurrency, --repeat and --latency-ms must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(args.rows, args.latency_ms, args.concurrency)
    can_plot = args.plot is not None and matplotlib_available()
    if args.plot is not None and not can_plot:
        print("--plot needs matplotlib: pip install matplotlib (no plot written)", file=sys.stderr)
    results = {
        name: measure(name, runner, settings, args.repeat) for name, runner in METHODS.items()
    }
    goals = targets(results)
    render = report_json if args.format == "json" else report_text
    print(render(settings, results, goals), flush=True)
    if can_plot:
        plot(args.plot, settings, results)
        print(f"plot written to {args.plot}", file=sys.stderr)
    missed = not all(g.passed for g in goals)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
