"""Prompt packing: calls, prompt tokens and accuracy with 8 rows per call against one per call.

Two parts, each run unpacked (``SET lakeinfer.pack_rows = 1``) and packed
(``SET lakeinfer.pack_rows = 8``), with the response cache off:

* **fake**: ``ai_classify`` (the four ticket labels) and ``ai_analyze_sentiment`` over
  ``--rows`` short texts (the evaluation set's texts, numbered so each is distinct) against
  lakeinfer's fake OpenAI-compatible server, which answers a packed prompt row by row as it
  answers each row's own prompt. Reported: HTTP calls the server counted, prompt tokens (as the
  server counts them: words; and characters / 4 of the prompts it received), the tokens saved
  the summary line reports, and whether every answer equals the unpacked one. Target: at least
  4x fewer calls.
* **embedded**: accuracy on the labelled evaluation set
  (``benchmarks/data/task_functions_eval.jsonl``, ``--limit`` rows per task of ``--split``)
  for ``ai_analyze_sentiment`` and ``ai_classify`` on the embedded model (SmolLM2-135M via
  llama.cpp), asked for JSON (``SET lakeinfer.task_scoring = false``: packing needs a prompt,
  and the default scored method sends completions, which are never packed). Reported: accuracy,
  the share of rows whose packed answer equals the unpacked one, rows sent again alone, calls
  and wall time.

The fake part takes seconds; the embedded part about two minutes for the whole test half (62 +
50 rows, each run twice) on a 2-core machine shared with other work::

    python benchmarks/prompt_packing.py                       # 512 fake rows, 8 rows per task
    python benchmarks/prompt_packing.py --limit 0             # fake part only
    python benchmarks/prompt_packing.py --limit 62 --format json   # the whole test half
    python benchmarks/prompt_packing.py --home ./lakehouse --endpoint my-llm --limit 62

``--endpoint`` measures the accuracy part on a configured chat endpoint instead (a hosted model
is where ``pack_rows = 'auto'`` packs).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lakeinfer  # noqa: E402
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config  # noqa: E402
from lakeinfer.evaluation.metrics import classification  # noqa: E402
from lakeinfer.testing.fake_openai import FakeOpenAIServer  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "task_functions_eval.jsonl"
TICKETS = ("billing", "technical issue", "shipping", "account access")
SENTIMENTS = ("positive", "negative", "neutral", "mixed")
PACK = 8


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _labels_sql(labels: tuple[str, ...]) -> str:
    return "ARRAY(" + ", ".join(_quoted(label) for label in labels) + ")"


def _queries(table: str) -> dict[str, str]:
    return {
        "ai_analyze_sentiment": (
            f"SELECT id, ai_analyze_sentiment(text) AS p FROM {table} "
            "WHERE task = 'sentiment' ORDER BY id"
        ),
        "ai_classify": (
            f"SELECT id, ai_classify(text, {_labels_sql(TICKETS)}) AS p FROM {table} "
            "WHERE task = 'classification' ORDER BY id"
        ),
    }


def _view(session: lakeinfer.Session, name: str, rows: list[dict[str, Any]]) -> None:
    values = ", ".join(
        f"({_quoted(r['id'])}, {_quoted(r['task'])}, {_quoted(r['text'])})" for r in rows
    )
    session.sql(
        f"CREATE OR REPLACE TEMPORARY VIEW {name} AS SELECT * FROM VALUES {values} "
        "AS t(id, task, text)"
    )


def _eval_rows(split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return [
        r
        for r in rows
        if r["task"] in ("sentiment", "classification") and split in ("all", r.get("split"))
    ]


def fake_part(session: lakeinfer.Session, server: FakeOpenAIServer, rows: int) -> dict:
    """Calls and prompt tokens, unpacked against packed, on the fake server."""
    texts = _eval_rows("all")
    data = [
        {
            "id": f"r{i:06d}",
            "task": texts[i % len(texts)]["task"],
            "text": f"{texts[i % len(texts)]['text']} (#{i})",
        }
        for i in range(rows)
    ]
    _view(session, "packing_rows", data)
    session.sql("SET lakeinfer.task_endpoint = 'fake'")
    report: dict[str, Any] = {"rows": rows, "rows_per_pack": PACK, "runs": {}}
    answers: dict[int, list[Any]] = {}
    for pack in (1, PACK):
        session.sql(f"SET lakeinfer.pack_rows = {pack}")
        server.reset()
        calls = tokens = chars = saved = 0
        got: list[Any] = []
        started = time.perf_counter()
        for query in _queries("packing_rows").values():
            got += session.sql(query).to_pylist()
            stats = session.last_stats
            tokens += stats.ai.prompt_tokens
            saved += stats.ai.prompt_tokens_saved
        seconds = time.perf_counter() - started
        served = server.stats()
        calls = served["chat"]
        chars = sum(len(b["messages"][-1]["content"]) for b in served["bodies"])
        answers[pack] = got
        report["runs"][f"pack_rows={pack}"] = {
            "calls": calls,
            "prompt_tokens": tokens,
            "prompt_tokens_by_chars": math.ceil(chars / 4),
            "tokens_saved_reported": saved,
            "seconds": round(seconds, 2),
        }
    alone, packed = report["runs"]["pack_rows=1"], report["runs"][f"pack_rows={PACK}"]
    report["calls_ratio"] = round(alone["calls"] / max(1, packed["calls"]), 2)
    report["prompt_tokens_ratio"] = round(
        alone["prompt_tokens"] / max(1, packed["prompt_tokens"]), 2
    )
    report["prompt_chars_ratio"] = round(
        alone["prompt_tokens_by_chars"] / max(1, packed["prompt_tokens_by_chars"]), 2
    )
    report["answers_equal"] = answers[1] == answers[PACK]
    return report


def embedded_part(
    session: lakeinfer.Session, limit: int, split: str, endpoint: str | None = None
) -> dict:
    """Accuracy on the evaluation set, unpacked against packed, on the embedded model (or on
    ``endpoint``, a chat endpoint of the session's lakehouse)."""
    rows = _eval_rows(split)
    chosen = [r for r in rows if r["task"] == "sentiment"][:limit]
    chosen += [r for r in rows if r["task"] == "classification"][:limit]
    truth = {r["id"]: r["expected"] for r in chosen}
    _view(session, "packing_eval", chosen)
    if endpoint is None:
        session.sql("RESET lakeinfer.task_endpoint")
    else:
        session.sql(f"SET lakeinfer.task_endpoint = {_quoted(endpoint)}")
    session.sql("SET lakeinfer.task_scoring = false")
    answering = session.registry.get(session.settings.get("task_endpoint"))
    report: dict[str, Any] = {
        "endpoint": answering.description or answering.name,
        "split": split,
        "rows_per_task": limit,
        "functions": {},
    }
    for function, query in _queries("packing_eval").items():
        results: dict[str, Any] = {}
        predictions: dict[int, dict[str, Any]] = {}
        for pack in (1, PACK):
            session.sql(f"SET lakeinfer.pack_rows = {pack}")
            started = time.perf_counter()
            got = session.sql(query).to_pylist()
            seconds = time.perf_counter() - started
            stats = session.last_stats.ai
            predicted = {r["id"]: r["p"] for r in got}
            predictions[pack] = predicted
            ids = sorted(predicted)
            scores = classification([predicted[i] for i in ids], [truth[i] for i in ids])
            results[f"pack_rows={pack}"] = {
                "rows": len(ids),
                "accuracy": round(scores.accuracy, 3),
                "calls": stats.calls,
                "sent_again_alone": stats.pack_splits,
                "prompt_tokens": stats.prompt_tokens,
                "seconds": round(seconds, 1),
            }
        same = sum(predictions[1][i] == predictions[PACK][i] for i in predictions[1])
        results["same_answer_share"] = round(same / max(1, len(predictions[1])), 3)
        results["accuracy_difference"] = round(
            results[f"pack_rows={PACK}"]["accuracy"] - results["pack_rows=1"]["accuracy"], 3
        )
        report["functions"][function] = results
    session.sql("RESET lakeinfer.task_scoring")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=512, help="rows of the fake part")
    parser.add_argument(
        "--limit",
        type=int,
        default=8,
        help="evaluation rows per task on the embedded model (0: skip the embedded part)",
    )
    parser.add_argument("--split", choices=("all", "dev", "test"), default="test")
    parser.add_argument("--home", type=Path, help="lakehouse whose config.toml names --endpoint")
    parser.add_argument(
        "--endpoint", help="measure accuracy on this chat endpoint instead of the embedded model"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="packing-")) / "lakehouse"
    report: dict[str, Any] = {}
    with FakeOpenAIServer() as server:
        endpoint = make_endpoint(base_url=server.base_url, model="fake", max_retries=0)
        save_config(home, LakeinferConfig(endpoints={"fake": endpoint}))
        with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
            session.sql("SET lakeinfer.cache = false")
            report["fake"] = fake_part(session, server, args.rows)
            if args.limit and args.home is None:
                report["embedded"] = embedded_part(session, args.limit, args.split, args.endpoint)
    if args.limit and args.home is not None:
        with lakeinfer.connect(args.home, progress=False, notice=lambda _: None) as session:
            session.sql("SET lakeinfer.cache = false")
            report["embedded"] = embedded_part(session, args.limit, args.split, args.endpoint)
    fake = report["fake"]
    passed = fake["calls_ratio"] >= 4 and fake["answers_equal"]
    report["target"] = {"calls_ratio_at_least": 4, "passed": passed}
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(f"fake server, {fake['rows']} rows (half sentiment, half tickets), {PACK} per pack:")
        for name, run in fake["runs"].items():
            print(
                f"  {name:13} {run['calls']:>5} calls  {run['prompt_tokens']:>7} prompt tokens "
                f"({run['prompt_tokens_by_chars']} by chars/4)  saved reported "
                f"{run['tokens_saved_reported']}  {run['seconds']}s"
            )
        print(
            f"  calls {fake['calls_ratio']}x fewer, prompt tokens {fake['prompt_tokens_ratio']}x "
            f"fewer ({fake['prompt_chars_ratio']}x by characters), answers equal: "
            f"{fake['answers_equal']}"
        )
        embedded = report.get("embedded")
        if embedded:
            print(
                f"{embedded['endpoint']} (JSON answers), {embedded['rows_per_task']} rows per task of "
                f"split {embedded['split']}:"
            )
            for function, results in embedded["functions"].items():
                for name in ("pack_rows=1", f"pack_rows={PACK}"):
                    run = results[name]
                    print(
                        f"  {function:22} {name:13} accuracy {run['accuracy']:.3f}  "
                        f"{run['calls']} calls  {run['sent_again_alone']} sent again alone  "
                        f"{run['prompt_tokens']} prompt tokens  {run['seconds']}s"
                    )
                print(
                    f"  {function:22} difference {results['accuracy_difference']:+.3f}, "
                    f"same answer {results['same_answer_share']:.0%}"
                )
        print(f"target: >= 4x fewer calls with equal answers: {'PASS' if passed else 'FAIL'}")
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    raise SystemExit(main())
