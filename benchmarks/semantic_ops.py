"""Vector indexes and ai_agg at size: build and search times, ANN recall, reduction levels.

1. Vector index: ``CREATE VECTOR INDEX`` over N distinct sentences (default 2000) with the
   embedded all-MiniLM-L6-v2 (response cache off), then Q searches (default 50) through
   ``vector_search(..., num_results => 10)``. Reports build seconds, sentences/s, the median
   search latency, and recall@10 of the usearch HNSW results against exact cosine neighbours
   computed with numpy over the same stored vectors (target >= 0.95).
2. ai_agg: ``SELECT g, ai_agg(text, ...) FROM t GROUP BY g`` over R rows (default 2000) in G
   groups (default 4) against the fake OpenAI-compatible server (which echoes, so summaries do
   not shrink by themselves: the worst case for the reduction). Reports requests per level, as
   counted by the server, and seconds.

Run from the repository root: ``python benchmarks/semantic_ops.py [--texts N] [--queries Q]
[--rows R] [--groups G] [--context-tokens T] [--format json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import lakeinfer  # noqa: E402
from lakeinfer.catalog.delta_catalog import TableName  # noqa: E402
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config  # noqa: E402
from lakeinfer.testing.fake_openai import FakeOpenAIServer  # noqa: E402
from lakeinfer.vector.index import VECTOR, VectorIndexes  # noqa: E402

SUBJECTS = "kettle toaster fridge blender oven lamp chair table window garden river city".split()
VERBS = "works breaks shines leaks hums rattles glows stops starts cools heats waits".split()
QUALITIES = "well badly quietly loudly slowly quickly nicely oddly".split()


def sentences(n: int) -> list[str]:
    out = []
    for i in range(n):
        s = SUBJECTS[i % len(SUBJECTS)]
        v = VERBS[(i // len(SUBJECTS)) % len(VERBS)]
        q = QUALITIES[(i // 7) % len(QUALITIES)]
        out.append(f"item {i}: the {s} {v} {q} after {i % 97} days")
    return out


def vector_index(texts: int, queries: int) -> dict:
    home = Path(tempfile.mkdtemp()) / "lakehouse"
    corpus = sentences(texts)
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        session.sql("SET lakeinfer.cache = false")
        table = session.catalog.qualify(["docs"], session.namespace)
        session.catalog.write(table, pa.table({"id": list(range(texts)), "body": corpus}), "append")
        session.sql("SELECT ai_embed('warm up') AS v").to_arrow()  # load the model once
        started = time.perf_counter()
        session.sql("CREATE VECTOR INDEX docs_idx ON docs (body)")
        build_s = time.perf_counter() - started
        index = TableName("main", "default", "docs_idx")
        stored = pq.read_table(VectorIndexes(session.catalog)._dir(index) / "rows.parquet")
        matrix = np.asarray(stored.column(VECTOR).to_pylist(), dtype=np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        ids = np.asarray(stored.column("id").to_pylist())
        latencies, recalls = [], []
        for q in range(queries):
            text = f"the {SUBJECTS[q % len(SUBJECTS)]} {VERBS[q % len(VERBS)]} after {q} days"
            started = time.perf_counter()
            found = session.sql(
                f"SELECT id FROM vector_search(index => 'docs_idx', query_text => '{text}', "
                "num_results => 10)"
            ).to_pylist()
            latencies.append(time.perf_counter() - started)
            query = session.sql(f"SELECT ai_embed('{text}') AS v").to_pylist()[0]["v"]
            vector = np.asarray(query, dtype=np.float32)
            vector /= np.linalg.norm(vector)
            exact = set(ids[np.argsort(-(matrix @ vector))[:10]].tolist())
            recalls.append(len(exact & {r["id"] for r in found}) / 10)
    return {
        "texts": texts,
        "build_s": round(build_s, 3),
        "sentences_per_s": round(texts / build_s, 1),
        "search_ms_p50": round(statistics.median(latencies) * 1000, 2),
        "recall_at_10": round(statistics.mean(recalls), 4),
    }


def ai_agg(rows: int, groups: int, context_tokens: int) -> dict:
    home = Path(tempfile.mkdtemp()) / "lakehouse"
    with FakeOpenAIServer() as server:
        save_config(
            home,
            LakeinferConfig(endpoints={"chat": make_endpoint(base_url=server.base_url, model="m")}),
        )
        with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
            session.sql("SET lakeinfer.cache = false")
            session.sql(f"SET lakeinfer.agg_context_tokens = {context_tokens}")
            table = session.catalog.qualify(["notes"], session.namespace)
            texts = [f"note {i}: " + sentences(1 + i % 50)[-1] for i in range(rows)]
            session.catalog.write(
                table,
                pa.table({"g": [i % groups for i in range(rows)], "text": texts}),
                "append",
            )
            started = time.perf_counter()
            result = session.sql(
                "SELECT g, ai_agg(text, 'Summarise the notes', 'chat') AS s FROM notes GROUP BY g"
            ).to_pylist()
            seconds = time.perf_counter() - started
        prompts = [b["messages"][-1]["content"] for b in server.stats()["bodies"]]
    if len(result) != groups or any(r["s"] is None for r in result):
        raise SystemExit("ai_agg: a group got no answer")
    # the level of a prompt: how many answers it quotes, nested ("echo: " marks an answer)
    levels: dict[int, int] = {}
    for prompt in prompts:
        depth = 1 + max((line.count("echo: ") for line in prompt.splitlines()), default=0)
        levels[depth] = levels.get(depth, 0) + 1
    return {
        "rows": rows,
        "groups": groups,
        "context_tokens": context_tokens,
        "input_chars": sum(map(len, texts)),
        "requests": len(prompts),
        "requests_per_level": dict(sorted(levels.items())),
        "seconds": round(seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--context-tokens", type=int, default=2048)
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args()
    report = {
        "vector_index": vector_index(args.texts, args.queries),
        "ai_agg": ai_agg(args.rows, args.groups, args.context_tokens),
    }
    if report["vector_index"]["recall_at_10"] < 0.95:
        print("target missed: recall@10 < 0.95", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(report))
        return
    for section, figures in report.items():
        print(section)
        for key, value in figures.items():
            print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
