"""What streaming costs over one batch statement: the same rows answered by
``INSERT INTO ... SELECT ai_query(...)`` and by an ``availableNow`` stream in micro-batches.

Each method gets a fresh lakehouse and a fresh fake OpenAI server (latency ``--latency-ms``,
``--concurrency`` requests in flight). Checks: the server counted one request per row and the
target holds every row once. Prints rows/s per method and the stream's speed relative to the
statement (the baseline); the difference is the per-batch work (planning, checkpoint files,
Delta commit with its transaction) and the pipeline drain at the end of each batch.

    python benchmarks/stream_overhead.py --rows 5000 --batch-rows 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lakeinfer  # noqa: E402
from lakeinfer import functions as F  # noqa: E402
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config  # noqa: E402
from lakeinfer.testing.fake_openai import FakeOpenAIServer  # noqa: E402

REQUEST = "ai_query('bench', 'Summarize: ' || text)"


def _lakehouse(root: Path, server: FakeOpenAIServer, concurrency: int, rows: int) -> Path:
    home = root / "lakehouse"
    endpoint = make_endpoint(
        base_url=server.base_url, model="bench", max_concurrency=concurrency, max_retries=0
    )
    save_config(home, LakeinferConfig(endpoints={"bench": endpoint}))
    with lakeinfer.connect(home, progress=False) as session:
        session.sql(
            "CREATE TABLE src AS SELECT CAST(id AS INT) AS id, "
            f"'document ' || CAST(id AS STRING) AS text FROM range({rows})"
        )
    return home


def _statement(home: Path) -> None:
    with lakeinfer.connect(home, progress=False) as session:
        session.sql(f"CREATE TABLE out AS SELECT id, {REQUEST} AS summary FROM src")


def _stream(home: Path, batch_rows: int) -> int:
    with lakeinfer.connect(home, progress=False) as session:
        query = (
            session.readStream.option("maxRowsPerTrigger", batch_rows)
            .table("src")
            .select("id", F.expr(REQUEST).alias("summary"))
            .writeStream.option("checkpointLocation", str(home.parent / "ckpt"))
            .trigger(availableNow=True)
            .toTable("out")
        )
        query.awaitTermination()
        return len(query.recentProgress)


def _measure(method: str, args: argparse.Namespace) -> dict:
    with (
        tempfile.TemporaryDirectory() as folder,
        FakeOpenAIServer(latency_ms=args.latency_ms, keep_bodies=False) as server,
    ):
        home = _lakehouse(Path(folder), server, args.concurrency, args.rows)
        started = time.perf_counter()
        batches = _stream(home, args.batch_rows) if method == "stream" else 1
        if method == "statement":
            _statement(home)
        seconds = time.perf_counter() - started
        calls = server.stats()["chat"]
        with lakeinfer.connect(home, progress=False) as session:
            count = session.sql("SELECT count(DISTINCT id) AS d, count(*) AS n FROM out")
            distinct, total = count.to_pylist()[0].values()
    if calls != args.rows or distinct != args.rows or total != args.rows:
        raise SystemExit(f"{method}: {calls} calls, {total} rows ({distinct} distinct)")
    return {"seconds": seconds, "rows_per_s": args.rows / seconds, "batches": batches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args()
    results = {m: _measure(m, args) for m in ("statement", "stream")}
    ratio = results["stream"]["rows_per_s"] / results["statement"]["rows_per_s"]
    if args.format == "json":
        print(json.dumps({"config": vars(args), "methods": results, "stream_vs_statement": ratio}))
        return
    ideal = args.concurrency / (args.latency_ms / 1000)
    print(f"{args.rows} rows, {args.latency_ms:g} ms latency, {args.concurrency} in flight")
    print(f"(ideal {ideal:.0f} rows/s)")
    for method, r in results.items():
        print(
            f"{method:10s} {r['seconds']:7.2f} s {r['rows_per_s']:8.0f} rows/s "
            f"{r['batches']:4d} batch(es)"
        )
    print(f"stream / statement: {ratio:.2f}x")


if __name__ == "__main__":
    main()
