"""What an endpoint that cannot answer costs: fail-fast, the circuit breaker, and 429 recovery.

One statement over a ``--rows`` table (default 10,000 distinct prompts), endpoint
``max_concurrency`` ``--concurrency`` (64) and ``max_retries`` ``--max-retries`` (6: at 10%
429s a request is throttled 4 times in a row about once in 10,000 rows, which would fail the
statement under ``max_retries = 3``), each scenario in a fresh lakehouse:

* ``fault-free``: the fake OpenAI server (``--latency-ms``, 20) answers every request: the
  baseline, timed;
* ``429s``: the same server with ``--throttle-rate`` (0.1) of the requests answered 429 with
  ``Retry-After: 0.05``; its time relative to the fault-free run is the figure;
* ``dead port``: a 127.0.0.1 port nothing listens on (``failOnError => true``);
* ``dead port, failOnError => false``: the same, every row given its error;
* ``401``: a server that wants a bearer token the endpoint does not send.

Attempts are the calls the statement made (``system.ai.query_history``); for the servers they
are also checked against the server's own count. Checks: the fault-free and 429 runs answer
every row; the failing runs fail (or, leniently, give every row an error).

Targets: each failing scenario ends in under 5 s with at most 2x the concurrency in attempts;
the 429 run takes at most 1.5x the fault-free time.

    python benchmarks/fail_fast.py
    python benchmarks/fail_fast.py --format json --check
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lakeinfer  # noqa: E402
from benchmarks._common import Target, targets_text  # noqa: E402
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config  # noqa: E402
from lakeinfer.errors import LakeinferError  # noqa: E402
from lakeinfer.testing.fake_openai import FakeOpenAIServer  # noqa: E402

STRICT = "SELECT id, ai_query('bench', 'Summarize: ' || text) AS r FROM src"
LENIENT = "SELECT id, ai_query('bench', 'Summarize: ' || text, failOnError => false) AS r FROM src"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(base_url: str, args: argparse.Namespace, sql: str) -> dict[str, Any]:
    """Time ``sql`` in a fresh lakehouse whose endpoint ``bench`` is at ``base_url``."""
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "lakehouse"
        endpoint = make_endpoint(
            base_url=base_url,
            model="bench",
            max_concurrency=args.concurrency,
            max_retries=args.max_retries,
        )
        save_config(home, LakeinferConfig(endpoints={"bench": endpoint}))
        with lakeinfer.connect(home, progress=False) as session:
            session.sql(
                "CREATE TABLE src AS SELECT CAST(id AS INT) AS id, "
                f"'document ' || CAST(id AS STRING) AS text FROM range({args.rows})"
            )
            error = None
            rows: list[dict[str, Any]] = []
            started = time.perf_counter()
            try:
                rows = session.sql(sql).to_pylist()
            except LakeinferError as exc:
                error = str(exc)
            seconds = time.perf_counter() - started
            stats = session.last_stats
        calls = stats.ai.calls if stats is not None else 0
        answered = sum(1 for r in rows if _answer(r["r"]) is not None)
        return {
            "seconds": seconds,
            "attempts": calls,
            "rows": len(rows),
            "answered": answered,
            "error": error,
            "throttled": stats.ai.throttled if stats is not None else 0,
        }


def _answer(value: Any) -> Any:
    return value.get("result") if isinstance(value, dict) else value


def measure(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with FakeOpenAIServer(latency_ms=args.latency_ms, keep_bodies=False) as server:
        results["fault-free"] = _run(server.base_url, args, STRICT)
        results["fault-free"]["served"] = server.stats()["chat"]
    with FakeOpenAIServer(
        latency_ms=args.latency_ms,
        keep_bodies=False,
        fault_rate=args.throttle_rate,
        fault_kinds=("429",),
    ) as server:
        results["429s"] = _run(server.base_url, args, STRICT)
        results["429s"]["served"] = server.stats()["chat"]
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    results["dead port"] = _run(dead, args, STRICT)
    results["dead port, lenient"] = _run(dead, args, LENIENT)
    with FakeOpenAIServer(latency_ms=args.latency_ms, keep_bodies=False, token="t") as server:
        results["401"] = _run(server.base_url, args, STRICT)
        results["401"]["served"] = server.stats()["chat"]
    _check(results, args.rows)
    return results


def _check(results: dict[str, dict[str, Any]], rows: int) -> None:
    for name in ("fault-free", "429s"):
        r = results[name]
        if r["error"] or r["answered"] != rows or r["served"] != r["attempts"]:
            raise SystemExit(f"{name}: {r}")
    for name in ("dead port", "401"):
        if results[name]["error"] is None:
            raise SystemExit(f"{name}: the statement did not fail: {results[name]}")
    lenient = results["dead port, lenient"]
    if lenient["error"] or lenient["rows"] != rows or lenient["answered"]:
        raise SystemExit(f"dead port, lenient: {lenient}")
    if results["401"]["served"] != results["401"]["attempts"]:
        raise SystemExit(f"401: {results['401']}")


def targets(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[Target]:
    goals = []
    for name in ("dead port", "dead port, lenient", "401"):
        r = results[name]
        goals.append(Target(f"{name}: seconds", r["seconds"], 5.0, at_most=True, unit=" s"))
        goals.append(Target(f"{name}: attempts", r["attempts"], 2 * args.concurrency, at_most=True))
    ratio = results["429s"]["seconds"] / results["fault-free"]["seconds"]
    goals.append(Target("429s: time vs fault-free", ratio, 1.5, at_most=True, unit="x"))
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-retries", type=int, default=6)
    parser.add_argument("--throttle-rate", type=float, default=0.1)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    results = measure(args)
    goals = targets(results, args)
    if args.format == "json":
        report = {"config": vars(args), "scenarios": results}
        print(json.dumps({**report, "targets": [g.as_dict() for g in goals]}))
    else:
        base = results["fault-free"]["seconds"]
        print(
            f"{args.rows} rows, {args.latency_ms:g} ms latency, {args.concurrency} in flight, "
            f"max_retries {args.max_retries}"
        )
        for name, r in results.items():
            print(
                f"{name:20s} {r['seconds']:7.2f} s ({r['seconds'] / base:5.2f}x fault-free) "
                f"{r['attempts']:6d} attempts {r['answered']:6d} answered"
                + (f"  429s: {r['throttled']}" if name == "429s" else "")
            )
        print("\n".join(targets_text(goals)))
    if args.check and not all(g.passed for g in goals):
        sys.exit(1)


if __name__ == "__main__":
    main()
