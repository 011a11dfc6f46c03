"""Embeddings throughput: ai_query batched vs sentence-transformers directly vs one row a call.

Embeds the same N distinct sentences (default 1024) with the embedded all-MiniLM-L6-v2:

- ``encode``: ``SentenceTransformer.encode(texts, batch_size=64)`` called directly;
- ``ai_query batched``: ``SELECT ai_query('emb', text) FROM t`` on an endpoint of
  ``max_batch`` 64 (the default), response cache off;
- ``ai_query one per row``: the same statement on an endpoint of ``max_batch`` 1.

Then, over HTTP against the fake OpenAI-compatible server (``--latency-ms`` per request, default
20), ``ai_query`` on an embeddings endpoint with micro-batching (64 inputs per request) versus
one input per request, both with ``--http-concurrency`` requests in flight (default 8).

Every method is checked: each row gets a vector of the right size, and the batched ai_query
vectors equal the direct ones. Prints sentences/s and the ratios:

- batched ai_query / direct encode (target >= 0.95)
- batched ai_query / one row per call (target >= 2)
- HTTP micro-batched / one input per request

Run from the repository root: ``python benchmarks/embeddings_batched.py [--texts N]
[--repeat K] [--format json]`` (about a minute with the defaults on a quiet 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import lakeinfer  # noqa: E402
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config  # noqa: E402
from lakeinfer.endpoints.sentence_transformers import (  # noqa: E402
    embedded_model_path,
    load_model,
)
from lakeinfer.testing.fake_openai import FakeOpenAIServer  # noqa: E402

BATCH = 64
WORDS = "kettle toaster fridge blender oven lamp chair table window garden river city".split()


def sentences(n: int) -> list[str]:
    """N distinct sentences of 8-12 words."""
    out = []
    for i in range(n):
        words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(8 + i % 5)]
        out.append(f"review {i}: the " + " ".join(words) + " works well")
    return out


def run_sql(home: Path, endpoint: str, texts: list[str]) -> tuple[float, list]:
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        session.sql("SET lakeinfer.cache = false")
        session.sql("CREATE OR REPLACE TABLE t (id INT, text STRING)")
        rows = ", ".join(f"({i}, '{t}')" for i, t in enumerate(texts))
        session.sql(f"INSERT INTO t VALUES {rows}")
        session.sql(f"SELECT ai_query('{endpoint}', 'warm up') AS v").to_arrow()  # load once
        started = time.perf_counter()
        table = session.sql(f"SELECT ai_query('{endpoint}', text) AS v FROM t").to_arrow()
        seconds = time.perf_counter() - started
    vectors = table.column("v").to_pylist()
    if len(vectors) != len(texts) or any(v is None or len(v) == 0 for v in vectors):
        raise SystemExit(f"{endpoint}: a row got no vector")
    return seconds, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=1024)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--http-concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1, help="keep the best of K runs each")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args()
    texts = sentences(args.texts)
    path = str(embedded_model_path())
    model = load_model(path)
    model.encode(texts[:BATCH], batch_size=BATCH)  # warm up

    results: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        results[name] = max(results.get(name, 0.0), len(texts) / seconds)

    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeOpenAIServer(latency_ms=args.latency_ms) as server,
    ):
        home = Path(tmp) / "lakehouse"
        http = {"base_url": server.base_url, "model": "fake", "task": "embeddings"}
        http["max_concurrency"] = args.http_concurrency
        save_config(
            home,
            LakeinferConfig(
                endpoints={
                    "emb": make_endpoint(provider="sentence-transformers", model=path),
                    "emb1": make_endpoint(
                        provider="sentence-transformers", model=path, max_batch=1
                    ),
                    "http": make_endpoint(**http),
                    "http1": make_endpoint(**http, max_batch=1),
                }
            ),
        )
        for _ in range(args.repeat):  # interleaved, so a busy moment hits every method
            started = time.perf_counter()
            direct = model.encode(texts, batch_size=BATCH)
            keep("encode", time.perf_counter() - started)
            seconds, vectors = run_sql(home, "emb", texts)
            np.testing.assert_allclose(np.array(vectors), direct, atol=1e-4)
            keep("ai_query batched", seconds)
            keep("ai_query one per row", run_sql(home, "emb1", texts)[0])
            keep("http micro-batched", run_sql(home, "http", texts)[0])
            keep("http one per request", run_sql(home, "http1", texts)[0])

    ratios = {
        "ai_query batched / encode (target >= 0.95)": results["ai_query batched"]
        / results["encode"],
        "ai_query batched / one per row (target >= 2)": results["ai_query batched"]
        / results["ai_query one per row"],
        "http micro-batched / one per request": results["http micro-batched"]
        / results["http one per request"],
    }
    if args.format == "json":
        print(json.dumps({"texts": len(texts), "sentences_per_s": results, "ratios": ratios}))
        return
    print(f"{len(texts)} distinct sentences, all-MiniLM-L6-v2 on CPU, batch {BATCH}")
    for name, rate in results.items():
        print(f"  {name:24s} {rate:9.1f} sentences/s")
    for name, ratio in ratios.items():
        print(f"  {name:48s} {ratio:6.2f}x")


if __name__ == "__main__":
    main()
