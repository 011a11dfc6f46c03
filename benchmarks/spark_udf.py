"""``ai_query`` on Spark ``local[2]``: lakeinfer's Arrow UDF against a row-at-a-time Python UDF
and against the embedded DuckDB engine.

What is measured: the wall time to evaluate ``ai_query('bench', concat('Summarize: ', id))``
over ``--rows`` rows with distinct prompts (so nothing is deduplicated), no response cache,
against the project's fake OpenAI-compatible server in its own process answering after
``--latency-ms`` (default 50 ms):

* ``spark-arrow``: ``lakeinfer.spark.register`` on ``local[2]``, two partitions; each Python
  worker sends its batch through lakeinfer's scheduler (``--concurrency`` in flight per worker);
  the DataFrame is written to Spark's ``noop`` sink so every row is evaluated once;
* ``spark-naive``: a plain ``F.udf`` making one blocking HTTP call per row (what users write
  without lakeinfer), over ``--naive-rows`` rows (it is slow; its rate is per row all the same);
* ``duckdb``: the same statement on the embedded engine (``lakeinfer.connect``), one process,
  ``--concurrency`` in flight.

Spark start-up and registration are not timed. Each run checks that the server counted one
request per row. Prints rows/s per method and the ratios.

    python benchmarks/spark_udf.py [--rows 10000] [--naive-rows 400] [--latency-ms 50]
        [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path

import lakeinfer
import lakeinfer.spark
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.testing.fake_openai import FakeOpenAIServer

PROMPT = "concat('Summarize: ', CAST(id AS STRING))"


def naive_udf(base_url: str):
    """One blocking HTTP request per row, as a hand-written Spark UDF does it."""
    from pyspark.sql import functions as F

    def call(prompt: str) -> str:
        body = {"model": "bench", "messages": [{"role": "user", "content": prompt}]}
        request = urllib.request.Request(
            f"{base_url}/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["choices"][0]["message"]["content"]

    return F.udf(call, "string")


def timed_spark(spark, rows: int, column) -> float:
    df = spark.range(rows, numPartitions=2).select("id", column.alias("r"))
    started = time.perf_counter()
    df.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--naive-rows", type=int, default=400)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    from pyspark.sql import functions as F

    results: dict[str, dict[str, float]] = {}
    endpoint = {"model": "bench", "max_concurrency": args.concurrency}
    spark = lakeinfer.spark.session("local[2]", "lakeinfer-bench")
    try:
        with FakeOpenAIServer(latency_ms=args.latency_ms, keep_bodies=False) as server:
            lakeinfer.spark.register(
                spark, cache=False, endpoints={"bench": {**endpoint, "base_url": server.base_url}}
            )
            timed_spark(spark, 200, F.expr(f"ai_query('bench', {PROMPT})"))  # warm the workers
            server.reset()
            seconds = timed_spark(spark, args.rows, F.expr(f"ai_query('bench', {PROMPT})"))
            assert server.stats()["chat"] == args.rows, server.stats()["chat"]
            results["spark-arrow"] = {"rows": args.rows, "seconds": seconds}

            server.reset()
            udf = naive_udf(server.base_url)
            seconds = timed_spark(spark, args.naive_rows, udf(F.expr(PROMPT)))
            assert server.stats()["chat"] == args.naive_rows
            results["spark-naive"] = {"rows": args.naive_rows, "seconds": seconds}
    finally:
        spark.stop()

    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeOpenAIServer(latency_ms=args.latency_ms, keep_bodies=False) as server,
    ):
        home = Path(tmp)
        config = LakeinferConfig(
            endpoints={"bench": make_endpoint(**endpoint, base_url=server.base_url)},
            settings={"cache": False},
        )
        save_config(home, config)
        with lakeinfer.connect(home, progress=False) as session:
            query = f"SELECT id, ai_query('bench', {PROMPT}) AS r FROM range({args.rows})"
            started = time.perf_counter()
            session.sql(query).to_arrow()
            seconds = time.perf_counter() - started
        assert server.stats()["chat"] == args.rows
        results["duckdb"] = {"rows": args.rows, "seconds": seconds}

    ideal = args.concurrency / (args.latency_ms / 1000.0)
    print(
        f"ai_query, {args.latency_ms:g} ms server, concurrency {args.concurrency} per process "
        f"(ideal {ideal:.0f} rows/s per process)"
    )
    for name, figures in results.items():
        figures["rows_per_s"] = figures["rows"] / figures["seconds"]
        print(
            f"  {name:<12} {figures['rows']:>6} rows  {figures['seconds']:7.2f} s  "
            f"{figures['rows_per_s']:8.1f} rows/s"
        )
    arrow, naive = results["spark-arrow"]["rows_per_s"], results["spark-naive"]["rows_per_s"]
    duck = results["duckdb"]["rows_per_s"]
    print(f"spark-arrow / spark-naive: {arrow / naive:.1f}x")
    print(f"spark-arrow / duckdb:      {arrow / duck:.2f}x")


if __name__ == "__main__":
    main()
