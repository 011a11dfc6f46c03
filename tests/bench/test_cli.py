"""`lakeinfer bench` and `lakeinfer size` on the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner

import lakeinfer
from lakeinfer.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def invoke(home, *args):
    return CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)


def test_bench_writes_table_plot_and_sizing_then_size_reads_it(bench_home, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "one two"}\n\n{"prompt": "three four"}\n')
    plot = tmp_path / "charts" / "bench.png"
    result = invoke(
        bench_home,
        "bench",
        "llm",
        "--prompts",
        str(prompts),
        "--concurrency",
        "1,3",
        "--requests",
        "6",
        "--plot",
        str(plot),
        "--rows",
        "36000",
        "--deadline",
        "1h",
        "--output-tokens",
        "3",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    levels, sizing = lines[:-1], lines[-1]["sizing"]
    assert [(lv["concurrency"], lv["requests"], lv["ok"]) for lv in levels] == [
        (1, 6, 6),
        (3, 6, 6),
    ]
    assert all(lv["ttft_p50_ms"] is not None for lv in levels)
    assert [lv["recommended"] for lv in levels].count(True) == 1
    assert sizing["rows"] == 36000 and sizing["required_rows_per_s"] == 10
    assert sizing["input_tokens_per_row"] == 2.0  # as measured: "one two" is two words
    assert plot.read_bytes().startswith(PNG_MAGIC)
    page = plot.with_suffix(".html").read_text()
    assert '<img src="data:image/png;base64,' in page and 'id="sizing"' in page
    assert "levels appended to main.default.bench_results" in result.stderr

    with lakeinfer.connect(bench_home, progress=False) as session:
        stored = session.sql(
            "SELECT concurrency, requests, recommended FROM main.default.bench_results "
            "ORDER BY concurrency"
        ).to_pylist()
    assert [(r["concurrency"], r["requests"]) for r in stored] == [(1, 6), (3, 6)]

    sized = invoke(
        bench_home,
        "size",
        "llm",
        "--rows",
        "1000",
        "--input-tokens",
        "2",
        "--output-tokens",
        "3",
        "--deadline",
        "10m",
        "--format",
        "json",
    )
    assert sized.exit_code == 0, sized.output
    answer = json.loads(sized.stdout)
    assert answer["rows"] == 1000 and answer["deadline_s"] == 600
    assert answer["replicas"] == 1 and answer["meets_deadline"]
    assert answer["capacity_source"].startswith("llm at concurrency ")

    shown = invoke(
        bench_home, "size", "llm", "--rows", "10", "--input-tokens", "2", "--deadline", "1h"
    )
    assert shown.exit_code == 0, shown.output
    assert "replicas: ceil(" in shown.stdout and "provisioned throughput:" in shown.stdout


def test_bench_from_a_table_in_table_format(bench_home, tmp_path):
    with lakeinfer.connect(bench_home, progress=False) as session:
        session.sql("CREATE TABLE prompts AS SELECT 1 AS id, 'hello there' AS text")
    result = invoke(
        bench_home,
        "bench",
        "llm",
        "--prompts",
        "prompts",
        "--concurrency",
        "2",
        "--requests",
        "2",
        "--plot",
        "",
        "--no-stream",
    )
    assert result.exit_code == 0, result.output
    assert "│ 2 *" in result.stdout
    assert "* recommended: concurrency 2:" in result.stdout


def test_cli_errors_are_one_line(bench_home, tmp_path):
    result = invoke(
        bench_home, "size", "llm", "--rows", "5", "--input-tokens", "1", "--deadline", "2h"
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no benchmark results in main.default.bench_results")
    bad = invoke(bench_home, "bench", "llm", "--prompts", "x", "--concurrency", "1,a")
    assert bad.exit_code == 2 and "write integers separated by commas" in bad.stderr
    pairs = invoke(bench_home, "bench", "llm", "--prompts", "x", "--rows", "5")
    assert pairs.exit_code == 2 and "--rows and --deadline go together" in pairs.stderr
