"""The benchmarks run and check their own correctness (timings are not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(script: str, *args: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    """``benchmarks/SCRIPT ARGS`` run from the repository root; it must exit 0."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_http_benchmark_runs_small_and_counts_every_request():
    result = _benchmark(
        "ai_query_http.py",
        *("--rows", "300", "--latency-ms", "5", "--concurrency", "16", "--format", "json"),
    )
    report = json.loads(result.stdout)
    methods = report["methods"]
    assert set(methods) == {"lakeinfer ai_query", "openai SDK loop", "aiohttp loop"}
    assert all(m["rows_per_s"] > 0 for m in methods.values())
    assert methods["lakeinfer ai_query"]["peak_in_flight"] <= 16


def test_ui_cancel_benchmark_runs_and_checks_nothing_was_written():
    result = _benchmark("ui_cancel.py", "--latency-ms", "600", "--repeat", "1", timeout=120)
    assert result.stdout.startswith("cancel stopped the statement in")


def test_serve_stack_benchmark_loads_both_stacks_and_reports_the_ratio():
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    result = _benchmark(
        "serve_stack.py",
        *("--format", "json", "--seconds", "0.3", "--rounds", "2", "--concurrency", "4"),
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert report["baseline"] == "aiohttp" and report["ratio_to_baseline"]["aiohttp"] == 1.0
    for stack in ("aiohttp", "starlette"):
        assert len(report["rps"][stack]) == 2 and min(report["rps"][stack]) > 0
        assert report["median_cpu_us"][stack] >= 0


def test_fail_fast_benchmark_runs_small_and_checks_its_scenarios():
    result = _benchmark(
        "fail_fast.py",
        *("--rows", "400", "--latency-ms", "5", "--concurrency", "8", "--format", "json"),
    )
    report = json.loads(result.stdout)
    scenarios = report["scenarios"]
    assert scenarios["429s"]["answered"] == 400 and scenarios["429s"]["throttled"] > 0
    for name in ("dead port", "dead port, lenient", "401"):
        assert 1 <= scenarios[name]["attempts"] <= 2 * 8, (name, scenarios[name])


def test_cli_startup_benchmark_runs_the_commands_and_reports_ratios():
    result = _benchmark("cli_startup.py", "--rounds", "1", "--format", "json")
    report = json.loads(result.stdout)
    assert {"baseline", "help", "sql"} <= report.keys()
    assert report["sql"]["ratio_to_baseline"] > 0
    assert [t["name"] for t in report["targets"]] == [
        "lakeinfer --help",
        'lakeinfer sql "SELECT 1"',
    ]


def test_batch_mode_benchmark_checks_its_answers_and_the_price_ratio():
    result = _benchmark("batch_mode.py", "--rows", "300", "--format", "json")
    report = json.loads(result.stdout)
    assert set(report["methods"]) == {"online", "batch"}
    assert report["methods"]["batch"]["batch_requests"] == 300
    assert report["price_ratio"] == pytest.approx(0.5)
