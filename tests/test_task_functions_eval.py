"""The hand-labelled task function set is well formed, and its benchmark scores a model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import configure

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "task_functions_eval.jsonl"


def test_the_evaluation_set_has_over_300_consistent_rows_half_held_out():
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["text"] for r in rows}) == len(rows)
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    assert {t: len(v) for t, v in by_task.items()} == {
        "sentiment": 124,
        "classification": 100,
        "extraction": 90,
    }
    for task_rows in by_task.values():
        splits = [r["split"] for r in task_rows]
        assert set(splits) == {"dev", "test"}
        assert abs(splits.count("dev") - splits.count("test")) <= 1
    for label in ("positive", "negative", "neutral", "mixed"):
        assert sum(r["expected"] == label for r in by_task["sentiment"]) == 31
    assert {r["expected"] for r in by_task["sentiment"]} == {
        "positive",
        "negative",
        "neutral",
        "mixed",
    }
    for row in by_task["classification"]:
        assert row["expected"] in row["labels"]
    for row in by_task["extraction"]:
        assert all(value is None or value in row["text"] for value in row["expected"].values())
    assert sum(None in row["expected"].values() for row in by_task["extraction"]) == 12


def test_the_benchmark_reports_each_function_for_an_endpoint(home, fake_server, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import task_functions_eval
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    configure(home, fake_server, chat={})
    code = task_functions_eval.main(
        [
            "--home",
            str(home),
            "--endpoint",
            "chat",
            "--no-default",
            "--limit",
            "4",
            "--format",
            "json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    (model,) = report["models"]
    assert model.startswith("chat = chat at http://127.0.0.1")
    results = report["models"][model]
    assert results["ai_analyze_sentiment"]["valid_label_share"] == 1.0
    assert results["ai_classify"]["valid_label_share"] == 1.0
    assert results["ai_classify"]["rows"] == 4
    # the fake server echoes the prompt into every string field: no extraction is right
    assert results["ai_extract"]["field_accuracy"] == 0.0
