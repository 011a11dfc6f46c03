"""`lakeinfer eval` on the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner

import lakeinfer
from lakeinfer.cli import main

from .conftest import make_tables


def test_eval_prints_json_lines_writes_the_table_and_the_report(tmp_path):
    home = tmp_path / "lakehouse"
    with lakeinfer.connect(home, progress=False) as session:
        make_tables(session)
    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        [
            "--home",
            str(home),
            "eval",
            "--predictions",
            "SELECT id, r FROM preds",
            "--ground-truth",
            "truth",
            "--key",
            "id",
            "--fields",
            "name,price:numeric",
            "--fields",
            "sentiment",
            "--report",
            str(report),
            "--rows-table",
            "eval_rows",
            "--format",
            "json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_key = {(r["field"], r["metric"]): r["value"] for r in lines}
    assert by_key[(None, "rows")] == 4
    assert by_key[("name", "normalized_match")] == 0.5
    assert by_key[("price", "within_tolerance")] == 0.5
    assert by_key[("sentiment", "accuracy")] == 0.25
    assert ("tags", "score") not in by_key  # only the fields asked for
    assert 'id="worst-cases"' in report.read_text()
    assert "report: " in result.stderr
    with lakeinfer.connect(home, progress=False) as session:
        stored = session.sql("SELECT count(*) AS n FROM main.default.eval_results").to_pylist()
        rows = session.sql("SELECT count(*) AS n FROM eval_rows").to_pylist()
    assert stored == [{"n": len(lines)}] and rows == [{"n": 4}]


def test_eval_table_format_and_errors(tmp_path):
    home = tmp_path / "lakehouse"
    with lakeinfer.connect(home, progress=False) as session:
        make_tables(session)
    runner = CliRunner()
    shown = runner.invoke(
        main,
        [
            "--home",
            str(home),
            "eval",
            "--predictions",
            "preds",
            "--ground-truth",
            "truth",
            "--key",
            "id",
            "--report",
            "",
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert "score 45.8% over 4 rows: 2 parsed, 1 missing, 0 errors, 1 unparseable" in shown.stdout
    bad = runner.invoke(
        main,
        [
            "--home",
            str(home),
            "eval",
            "--predictions",
            "preds",
            "--ground-truth",
            "truth",
            "--key",
            "nope",
            "--report",
            "",
        ],
    )
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: ground truth has no key column 'nope'")
