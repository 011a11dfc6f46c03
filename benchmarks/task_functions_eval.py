"""Accuracy of the task functions on a hand-labelled set, per function, model and method.

The set (``benchmarks/data/task_functions_eval.jsonl``) has 314 rows: 124 sentiment
(positive / negative / neutral / mixed, 31 each), 100 support-ticket classifications
(billing, technical issue, shipping, account access) and 90 person/location extractions (12 of
them with one field absent, expected NULL). Every row is in the ``dev`` or the held-out ``test``
half (alternate rows of each task): prompts and methods were chosen looking at ``dev`` only,
so ``--split test`` is the honest figure. Each model answers

    ai_analyze_sentiment(text)
    ai_classify(text, ARRAY('billing', 'technical issue', 'shipping', 'account access'))
    ai_extract(text, ARRAY('person', 'location'))

through ``SET lakeinfer.task_endpoint = '<model>'``. Reported: accuracy and macro F1 for the
two label tasks (``lakeinfer.evaluation.metrics.classification``), and for extraction the share
of fields and of rows whose values match the truth after normalisation (case, punctuation,
spacing: ``normalized_match``). Also: the share of label answers that are one of the allowed
labels, the wall time and rows/s per function.

Models: the default task endpoint (the embedded SmolLM2-135M via llama.cpp, unless a
Databricks workspace is configured) plus every ``--endpoint NAME`` configured in ``--home``'s
``config.toml``. On an endpoint that scores completions (the embedded model) each function is
run twice in the same session: ``scored`` (labels scored by log-probability, spans copied from
the input: the default) and ``json`` (the previous method, also used for HTTP endpoints: the
Databricks-style prompt answered as JSON under a grammar, ``SET lakeinfer.task_scoring =
false``). Slow on a 2-core machine (minutes for the embedded model)::

    python benchmarks/task_functions_eval.py --split test          # embedded model, held out
    python benchmarks/task_functions_eval.py --home ./lakehouse --endpoint my-llm
    python benchmarks/task_functions_eval.py --limit 10 --format json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lakeinfer  # noqa: E402
from lakeinfer.evaluation.metrics import classification, normalized_match  # noqa: E402
from lakeinfer.settings import SETTINGS  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "task_functions_eval.jsonl"
DEFAULT = "(default task endpoint)"


def load(path: Path, limit: int | None, split: str = "all") -> dict[str, list[dict[str, Any]]]:
    """The rows of each task in ``split`` (``dev``, ``test`` or ``all``), at most ``limit``
    per task."""
    tasks: dict[str, list[dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if split == "all" or row.get("split") == split:
                tasks.setdefault(row["task"], []).append(row)
    return {task: rows[:limit] if limit else rows for task, rows in tasks.items()}


def _sql_list(labels: list[str]) -> str:
    return ", ".join("'" + label.replace("'", "''") + "'" for label in labels)


def evaluate_model(session: lakeinfer.Session, tasks: dict[str, list[dict[str, Any]]]) -> dict:
    """Run the three functions over the eval table; metrics per function."""
    results: dict[str, Any] = {}
    sentiment = tasks.get("sentiment", [])
    if sentiment:
        started = time.perf_counter()
        got = session.sql(
            "SELECT id, ai_analyze_sentiment(text) AS p FROM eval WHERE task = 'sentiment' "
            "ORDER BY id"
        ).to_pylist()
        results["ai_analyze_sentiment"] = _labels(
            got, sentiment, ["positive", "negative", "neutral", "mixed"], started
        )
    classify = tasks.get("classification", [])
    if classify:
        labels = classify[0]["labels"]
        started = time.perf_counter()
        got = session.sql(
            f"SELECT id, ai_classify(text, ARRAY({_sql_list(labels)})) AS p FROM eval "
            "WHERE task = 'classification' ORDER BY id"
        ).to_pylist()
        results["ai_classify"] = _labels(got, classify, labels, started)
    extract = tasks.get("extraction", [])
    if extract:
        fields = extract[0]["labels"]
        started = time.perf_counter()
        got = session.sql(
            f"SELECT id, ai_extract(text, ARRAY({_sql_list(fields)})) AS p FROM eval "
            "WHERE task = 'extraction' ORDER BY id"
        ).to_pylist()
        results["ai_extract"] = _extraction(got, extract, fields, started)
    return results


def _labels(
    got: list[dict[str, Any]], truth: list[dict[str, Any]], allowed: list[str], started: float
) -> dict[str, Any]:
    predicted = {row["id"]: row["p"] for row in got}
    ordered = sorted(truth, key=lambda r: r["id"])
    scores = classification(
        [predicted.get(r["id"]) for r in ordered], [r["expected"] for r in ordered]
    )
    valid = sum(1 for r in ordered if predicted.get(r["id"]) in allowed)
    seconds = time.perf_counter() - started
    return {
        "rows": len(ordered),
        "accuracy": round(scores.accuracy, 3),
        "macro_f1": round(scores.macro_f1, 3),
        "valid_label_share": round(valid / len(ordered), 3),
        "seconds": round(seconds, 1),
        "rows_per_s": round(len(ordered) / seconds, 2),
    }


def _extraction(
    got: list[dict[str, Any]], truth: list[dict[str, Any]], fields: list[str], started: float
) -> dict[str, Any]:
    predicted = {row["id"]: row["p"] or {} for row in got}
    matched_fields = matched_rows = 0
    for row in truth:
        answer = predicted.get(row["id"], {})
        hits = [normalized_match(answer.get(f), row["expected"][f]) for f in fields]
        matched_fields += sum(hits)
        matched_rows += all(hits)
    seconds = time.perf_counter() - started
    return {
        "rows": len(truth),
        "field_accuracy": round(matched_fields / (len(truth) * len(fields)), 3),
        "row_accuracy": round(matched_rows / len(truth), 3),
        "seconds": round(seconds, 1),
        "rows_per_s": round(len(truth) / seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="lakehouse whose config.toml names endpoints")
    parser.add_argument("--endpoint", action="append", default=[], help="also evaluate this")
    parser.add_argument("--no-default", action="store_true", help="skip the default model")
    parser.add_argument("--limit", type=int, help="at most this many rows per task")
    parser.add_argument(
        "--split", choices=("all", "dev", "test"), default="all", help="rows to evaluate"
    )
    parser.add_argument(
        "--method",
        choices=("both", "scored", "json"),
        default="both",
        help="on an endpoint that scores completions: which methods to run",
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args(argv)

    tasks = load(args.data, args.limit, args.split)
    models = ([] if args.no_default else [DEFAULT]) + args.endpoint
    home = args.home or Path(tempfile.mkdtemp(prefix="task-eval-")) / "lakehouse"
    report: dict[str, Any] = {"data": str(args.data), "split": args.split, "models": {}}
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        rows = [
            {
                "id": r["id"],
                "task": r["task"],
                "text": r["text"],
            }
            for rows in tasks.values()
            for r in rows
        ]
        session.sql(
            "CREATE OR REPLACE TEMPORARY VIEW eval AS SELECT * FROM VALUES "
            + ", ".join(
                "(" + ", ".join(_sql_list([r[k]]) for k in ("id", "task", "text")) + ")"
                for r in rows
            )
            + " AS t(id, task, text)"
        )
        session.sql("SET lakeinfer.cache = false")
        for model in models:
            if model == DEFAULT:
                session.sql("RESET lakeinfer.task_endpoint")
                endpoint = SETTINGS["task_endpoint"].default
            else:
                session.sql(f"SET lakeinfer.task_endpoint = '{model}'")
                endpoint = model
            # who really answers (a pre-provisioned name may be the embedded stand-in)
            described = session.registry.get(endpoint).description
            name = f"{endpoint} = {described}" if described else endpoint
            if not session.registry.scores_completions(endpoint):
                report["models"][name] = evaluate_model(session, tasks)
                continue
            methods = ("scored", "json") if args.method == "both" else (args.method,)
            for method in methods:
                session.sql(f"SET lakeinfer.task_scoring = {str(method == 'scored').lower()}")
                report["models"][f"{name} [{method}]"] = evaluate_model(session, tasks)
            session.sql("RESET lakeinfer.task_scoring")
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    for model, functions in report["models"].items():
        print(f"model: {model}")
        for function, metrics in functions.items():
            shown = ", ".join(f"{k}={v}" for k, v in metrics.items() if k != "rows")
            print(f"  {function:22} {metrics['rows']:>4} rows  {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
