"""ai_query on a Spark standalone cluster on this machine (a master and a worker process).

    python examples/spark/standalone_cluster.py                # answers from a local fake server
    python examples/spark/standalone_cluster.py --base-url http://127.0.0.1:8000/v1 --model m

It starts the master and the worker with pyspark's ``bin/spark-class``, connects a SparkSession
to ``spark://127.0.0.1:<port>``, runs ``ai_query`` over a small table on the worker's executor,
prints the answers as JSON lines, and stops both daemons (and their executors) on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile

import lakeinfer.spark
from lakeinfer.spark.cluster import StandaloneCluster
from lakeinfer.testing.fake_openai import FakeOpenAIServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible server (default: a fake one)")
    parser.add_argument("--model", default="fake")
    parser.add_argument("--rows", type=int, default=6)
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        base_url = args.base_url
        server = None
        if base_url is None:
            server = stack.enter_context(FakeOpenAIServer(latency_ms=5))
            base_url = server.base_url
        cluster = stack.enter_context(StandaloneCluster(cores=2))
        print(json.dumps({"master": cluster.master_url,
                          "pids": [p.pid for p in cluster.processes]}), flush=True)  # fmt: skip
        spark = lakeinfer.spark.session(cluster.master_url, "lakeinfer-standalone")
        stack.callback(spark.stop)
        # the response cache must be a path the executors reach: here, the same machine
        cache = stack.enter_context(tempfile.TemporaryDirectory()) + "/responses.sqlite"
        ai = lakeinfer.spark.register(
            spark, cache=cache, endpoints={"llm": {"base_url": base_url, "model": args.model}}
        )
        spark.range(0, args.rows, 1, 1).selectExpr("id", "id % 3 AS k").createOrReplaceTempView("t")
        rows = ai.sql(
            "SELECT id, ai_query('llm', concat('item ', k), failOnError => false) AS r "
            "FROM t ORDER BY id"
        ).collect()
        executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
        for row in rows:
            print(json.dumps({"id": row.id, "result": row.r.result, "error": row.r.errorMessage}))
        summary = {"executors": executors}
        if server is not None:
            summary["calls"] = server.stats()["chat"]
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
