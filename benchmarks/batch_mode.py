"""Batch mode against online calls: a CTAS over ``--rows`` rows (default 20,000; the issue's
figure is 100,000), client CPU and memory per row, and the price ratio.

The statement, on a fresh lakehouse each time (cold response cache)::

    CREATE TABLE out AS SELECT id, ai_query('bench', prompt) AS answer FROM input

``prompt`` is a distinct ~60-byte string per row. The endpoint ``bench`` points at the
project's fake OpenAI-compatible server (``lakeinfer.testing.fake_openai``, which also serves
the Files + Batches API), priced at $0.15 / $0.60 per million input / output tokens online
and, unset, half that in a batch. Two methods:

* ``online``: ``batch_mode = 'off'``, 64 requests in flight;
* ``batch``: ``batch_mode = 'on'``: the requests written as JSONL, uploaded, submitted, polled
  every 0.05 s and collected (the fake finishes a batch in three looks).

Measured for each, in a child process of its own (so its peak RSS is its own): wall time,
client CPU time (the whole child, start-up included) per row, peak RSS and the growth of RSS
per row over an idle session's, and the statement's estimated cost from the token counts the
server reported. Checked: every row answered with the server's echo of its prompt, and the
server's counts (online: one chat call per row; batch: one line per row, no chat call).

Target: the batch price is at most 0.5x of the online price.

    python benchmarks/batch_mode.py [--rows N] [--server-cpu CPU] [--format text|json]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PinnedFakeServer,
    Target,
    cpu_plan,
    emit_result,
    revision,
    run_worker,
    targets_text,
)

SCRIPT = Path(__file__).resolve()
PRICES = {"price_input_per_million": 0.15, "price_output_per_million": 0.60}
STATEMENT = "CREATE TABLE out AS SELECT id, ai_query('bench', prompt) AS answer FROM input"


def build(home: Path, base_url: str, mode: str, rows: int) -> None:
    """A lakehouse with the endpoint and the input table (not timed)."""
    import lakeinfer
    from lakeinfer.config import LakeinferConfig, make_endpoint, save_config

    endpoint = make_endpoint(
        base_url=base_url, model="bench", max_concurrency=64, batch_mode=mode, **PRICES
    )
    save_config(home, LakeinferConfig(endpoints={"bench": endpoint}))
    with lakeinfer.connect(home, progress=False) as session:
        session.sql(
            "CREATE TABLE input AS SELECT id, 'summarise review number ' || CAST(id AS STRING) "
            f"|| ' of the benchmark set, briefly' AS prompt FROM range({rows})"
        )


def worker(spec: dict[str, Any]) -> None:
    """One statement in this process; writes what it measured."""
    import lakeinfer

    with lakeinfer.connect(spec["home"], progress=False, notice=lambda m: None) as session:
        session.sql("SET lakeinfer.batch_poll_s = 0.05")
        session.sql("SELECT 1").to_pylist()  # the engine is loaded before the baseline
        idle_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        started, cpu = time.perf_counter(), time.process_time()
        session.sql(STATEMENT)
        seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        stats = session.last_stats
        wrong = session.sql(
            "SELECT count(*) AS n FROM out JOIN input USING (id) "
            "WHERE answer IS DISTINCT FROM 'echo: ' || prompt"
        ).to_pylist()[0]["n"]
        rows = session.sql("SELECT count(*) AS n FROM out").to_pylist()[0]["n"]
    emit_result(
        spec,
        {
            "seconds": seconds,
            "statement_cpu_s": cpu_s,
            "idle_rss_mib": idle_rss,
            "rows": rows,
            "wrong": wrong,
            "cost_usd": stats.cost_usd,
            "online_cost_usd": stats.online_cost_usd,
            "batch_requests": stats.batch_requests,
            "prompt_tokens": stats.ai.prompt_tokens,
            "completion_tokens": stats.ai.completion_tokens,
        },
    )


def measure(rows: int, server_cpu: int | None) -> dict[str, Any]:
    server_cpu, client_cpus, placement = cpu_plan(server_cpu)
    methods: dict[str, Any] = {}
    with PinnedFakeServer(0.0, server_cpu) as server:
        for method, mode in (("online", "off"), ("batch", "on")):
            with tempfile.TemporaryDirectory(prefix="lakeinfer-bench-batch-") as tmp:
                home = Path(tmp) / "lakehouse"
                build(home, server.base_url, mode, rows)
                server.reset()
                result = run_worker(
                    SCRIPT, {"home": str(home), "method": method}, client_cpus, 600.0
                )
                counts = server.stats()
            if result["rows"] != rows or result["wrong"]:
                raise SystemExit(f"{method}: {result['wrong']} wrong answers in {result['rows']}")
            expected = (rows, 0) if method == "online" else (0, rows)
            if (counts["chat"], counts["batch_lines"]) != expected:
                raise SystemExit(
                    f"{method}: the server counted {counts['chat']} chat calls and "
                    f"{counts['batch_lines']} batch lines for {rows} rows"
                )
            result["cpu_us_per_row"] = result["statement_cpu_s"] / rows * 1e6
            growth = max(result["peak_rss_mib"] - result["idle_rss_mib"], 0.0)
            result["rss_bytes_per_row"] = growth * 1024 * 1024 / rows
            result["rows_per_s"] = rows / result["seconds"]
            methods[method] = result
    ratio = methods["batch"]["cost_usd"] / methods["online"]["cost_usd"]
    return {
        "rows": rows,
        "revision": revision(),
        "placement": placement,
        "methods": methods,
        "price_ratio": ratio,
        "cpu_ratio": methods["batch"]["statement_cpu_s"] / methods["online"]["statement_cpu_s"],
        "targets": [Target("batch price / online price", ratio, 0.5, at_most=True).as_dict()],
    }


def text_report(report: dict[str, Any]) -> str:
    lines = [
        f"batch mode vs online: CTAS of {report['rows']} rows ({report['revision']}; "
        f"{report['placement']})",
        f"  {'method':<8}{'wall s':>8}{'rows/s':>9}{'CPU us/row':>12}{'peak RSS MiB':>14}"
        f"{'RSS B/row':>11}{'cost $':>10}",
    ]
    for name, m in report["methods"].items():
        lines.append(
            f"  {name:<8}{m['seconds']:>8.2f}{m['rows_per_s']:>9.0f}{m['cpu_us_per_row']:>12.0f}"
            f"{m['peak_rss_mib']:>14.0f}{m['rss_bytes_per_row']:>11.0f}{m['cost_usd']:>10.4f}"
        )
    lines.append(
        f"  client CPU batch/online: {report['cpu_ratio']:.2f}x; "
        f"price batch/online: {report['price_ratio']:.2f}x"
    )
    goals = [Target(t["name"], t["value"], t["threshold"], t["at_most"]) for t in report["targets"]]
    return "\n".join(lines + targets_text(goals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--server-cpu", type=int, default=1)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    report = measure(args.rows, args.server_cpu)
    print(json.dumps(report, indent=1) if args.format == "json" else text_report(report))
    if not all(t["passed"] for t in report["targets"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
