"""``lakeinfer eval``: compare predictions with ground truth, write a results table and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lakeinfer.cli.common import emit, format_option, friendly_errors, notice, open_session


def split_list(values: tuple[str, ...]) -> list[str]:
    """Repeated and comma-separated option values, flattened."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.command("eval")
@click.option(
    "--predictions", required=True, help="Table name or SQL query with the key and the outputs."
)
@click.option("--ground-truth", required=True, help="Table name or SQL query with the answers.")
@click.option("--key", required=True, help="Column joining predictions to ground truth.")
@click.option(
    "--fields",
    multiple=True,
    help="Fields to compare, comma-separated, each optionally NAME:KIND with KIND one of "
    "exact, text, numeric, list, label (default: every ground-truth field, kind inferred).",
)
@click.option(
    "--prediction-column",
    help="Column with the structured output (STRUCT or JSON text; default: the only column "
    "besides the key, else every other column is a field).",
)
@click.option("--truth-column", help="Same for the ground truth.")
@click.option("--abs-tol", type=float, default=0.0, show_default=True, help="Numeric tolerance.")
@click.option(
    "--rel-tol", type=float, default=0.01, show_default=True, help="Relative numeric tolerance."
)
@click.option(
    "--judge", "judge_endpoint", help="Endpoint that rates each prediction (model-judged)."
)
@click.option("--judge-input", help="Column with the input each prediction was made from.")
@click.option(
    "--judge-criteria",
    default="relevance,faithfulness",
    show_default=True,
    help="What the judge rates, comma-separated.",
)
@click.option(
    "--table",
    "results_table",
    default="main.default.eval_results",
    show_default=True,
    help="Delta table the metrics are appended to.",
)
@click.option("--rows-table", help="Also append per-row results (status, score, diff) here.")
@click.option(
    "--report",
    "report_path",
    default=None,
    help="Where to write the HTML report ('' for none; default: "
    "<home>/_reports/eval-<run>.html, where `lakeinfer ui` lists it).",
)
@click.option("--worst", type=int, default=10, show_default=True, help="Rows shown in the report.")
@format_option("table for people; json = one JSON object per metric; csv with a header.")
@click.pass_obj
@friendly_errors
def eval_command(
    ctx: Any,
    predictions: str,
    ground_truth: str,
    key: str,
    fields: tuple[str, ...],
    prediction_column: str | None,
    truth_column: str | None,
    abs_tol: float,
    rel_tol: float,
    judge_endpoint: str | None,
    judge_input: str | None,
    judge_criteria: str,
    results_table: str,
    rows_table: str | None,
    report_path: str | None,
    worst: int,
    fmt: str,
) -> None:
    """Compare structured outputs with ground truth, field by field.

    \b
    Per field: exact match, normalised text match, numeric tolerance, list
    precision/recall/F1, classification accuracy and confusion matrix; plus
    coverage (missing, failed, unparseable predictions) and the worst rows.
    Metrics are appended to --table; the HTML report has charts.

    \b
    Example:
      lakeinfer eval --predictions "SELECT id, ai_query('my-llm', prompt,
          failOnError => false) AS r FROM docs" --ground-truth labels --key id \\
          --fields name,price:numeric,tags --judge judge-llm --judge-input text
    """
    import pyarrow as pa

    from lakeinfer.evaluation.api import evaluate

    with open_session(ctx) as session:
        result = evaluate(
            session,
            predictions,
            ground_truth,
            key,
            fields=split_list(fields) or None,
            prediction_column=prediction_column,
            truth_column=truth_column,
            abs_tol=abs_tol,
            rel_tol=rel_tol,
            judge_endpoint=judge_endpoint,
            judge_input=judge_input,
            judge_criteria=split_list((judge_criteria,)),
        )
        result.write(session, results_table, rows_table)
        if report_path is None:
            report_path = str(Path(session.home) / "_reports" / f"eval-{result.run_id}.html")
    if fmt != "table":
        emit(result.to_arrow(), fmt)
    else:
        rows = [
            {
                "field": f.name,
                "kind": f.kind,
                "score": round(f.metrics["score"], 4),
                "metrics": ", ".join(
                    f"{name}={value:.3f}"
                    for name, value in f.metrics.items()
                    if name not in ("score",)
                ),
            }
            for f in result.fields
        ]
        emit(pa.Table.from_pylist(rows), fmt)
        c = result.coverage
        click.echo(
            f"score {result.score:.1%} over {c['rows']} rows: {c['parsed']} parsed, "
            f"{c['missing']} missing, {c['errors']} errors, "
            f"{c['parse_failures'] + c['empty']} unparseable"
        )
        if result.judge is not None:
            means = ", ".join(f"{k} {v:.2f}" for k, v in result.judge.means.items())
            click.echo(
                f"model-judged by {result.judge.endpoint} (1-5, not ground truth): "
                f"{means or 'no usable verdicts'}; {len(result.judge.failures)} judge failures"
            )
    notice(ctx, f"metrics appended to {results_table} (run {result.run_id})")
    if report_path:
        path = result.report(report_path, worst=worst)
        notice(ctx, f"report: {path.resolve()}")


def register_commands(cli: click.Group) -> None:
    cli.add_command(eval_command)
