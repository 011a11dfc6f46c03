"""``lakeinfer bench`` (measure an endpoint) and ``lakeinfer size`` (capacity for a deadline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lakeinfer.cli.common import (
    emit,
    format_option,
    friendly_errors,
    notice,
    open_session,
    with_options,
)


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: write integers separated by commas, e.g. 1,8,32,128"
        ) from None
    if not levels or min(levels) < 1:
        raise click.BadParameter("concurrency levels must be positive integers")
    return levels


_sizing_options = [
    click.option(
        "--headroom",
        type=float,
        default=1.2,
        show_default=True,
        help="Safety factor on replicas and provisioned throughput.",
    ),
    click.option(
        "--increment", type=float, help="Provisioned-throughput step in tokens/s (round up to it)."
    ),
]


@click.command("bench")
@click.argument("endpoint")
@click.option(
    "--prompts", required=True, help="Prompt file (.txt lines or .jsonl), table or query."
)
@click.option("--column", help="Column (or JSONL field) holding the prompt.")
@click.option("--concurrency", default="1,8,32,128", show_default=True, help="Levels to run.")
@click.option("--requests", type=int, help="Requests per level (default max(4 x level, 32)).")
@click.option("--max-tokens", type=int, help="max_tokens sent with each request.")
@click.option(
    "--stream/--no-stream",
    default=True,
    show_default=True,
    help="Ask for a streamed answer to measure time to first token.",
)
@click.option(
    "--warm-up/--no-warm-up",
    default=True,
    show_default=True,
    help="Send one untimed request first (model loading, a server still starting).",
)
@click.option("--timeout", "timeout_s", type=float, default=120.0, show_default=True)
@click.option("--max-p99-ms", type=float, help="Recommend only levels with p99 latency within.")
@click.option(
    "--table",
    "bench_table",
    default="main.default.bench_results",
    show_default=True,
    help="Delta table the levels are appended to.",
)
@click.option(
    "--plot",
    "plot_path",
    default=None,
    help="PNG chart path; an HTML page is written next to it ('' for neither; default: "
    "<home>/_reports/bench-<run>.png, where `lakeinfer ui` lists the page).",
)
@click.option("--rows", type=int, help="Size a job of this many rows (with --deadline).")
@click.option("--deadline", help="Size a job that must finish within this time, e.g. 2h.")
@click.option("--input-tokens", type=float, help="Input tokens per row (default: as measured).")
@click.option("--output-tokens", type=float, help="Output tokens per row (default: as measured).")
@with_options(_sizing_options)
@format_option()
@click.pass_obj
@friendly_errors
def bench(
    ctx: Any,
    endpoint: str,
    prompts: str,
    column: str | None,
    concurrency: str,
    requests: int | None,
    max_tokens: int | None,
    stream: bool,
    warm_up: bool,
    timeout_s: float,
    max_p99_ms: float | None,
    bench_table: str,
    plot_path: str | None,
    rows: int | None,
    deadline: str | None,
    input_tokens: float | None,
    output_tokens: float | None,
    headroom: float,
    increment: float | None,
    fmt: str,
) -> None:
    """Measure ENDPOINT at several concurrency levels and recommend one.

    \b
    Per level: requests/s, input and output tokens/s, latency p50/p90/p99,
    time to first token (streaming endpoints), errors and 429s. Nothing is
    retried or cached. Levels go to --table, charts to --plot (PNG + HTML).
    With --rows and --deadline it also sizes that job (see `lakeinfer size`).

    \b
    Example:
      lakeinfer bench my-llm --prompts prompts.jsonl --concurrency 1,8,32,128 \\
          --max-tokens 256 --rows 1000000 --deadline 2h
    """
    from lakeinfer.bench.plot import write_html, write_png
    from lakeinfer.bench.prompts import load_prompts
    from lakeinfer.bench.results import run_benchmark
    from lakeinfer.bench.sizing import Workload, capacity_of, parse_duration, size

    levels = _levels(concurrency)
    if (rows is None) != (deadline is None):
        raise click.UsageError("--rows and --deadline go together")
    with open_session(ctx) as session:
        texts = load_prompts(session, prompts, column)

        def progress(level: Any) -> None:
            notice(
                ctx,
                f"concurrency {level.concurrency}: {level.requests_per_s:,.1f} requests/s, "
                f"p50 {level.latency_p50_ms or 0:,.0f} ms, {level.errors} errors, "
                f"{level.throttled} x 429",
            )

        result = run_benchmark(
            session,
            endpoint,
            texts,
            levels,
            requests=requests,
            stream=stream,
            max_tokens=max_tokens,
            timeout_s=timeout_s,
            max_p99_ms=max_p99_ms,
            warm=warm_up,
            on_level=progress,
        )
        result.write(session, bench_table)
        if plot_path is None:
            plot_path = str(Path(session.home) / "_reports" / f"bench-{result.run_id}.png")
    sizing = None
    if rows is not None and deadline is not None:
        level = result.recommended_level or max(result.levels, key=lambda lv: lv.requests_per_s)
        workload = Workload(
            rows,
            input_tokens if input_tokens is not None else level.mean_input_tokens,
            output_tokens if output_tokens is not None else level.mean_output_tokens,
            parse_duration(deadline),
        )
        sizing = size(workload, capacity_of(result), headroom=headroom, increment=increment)
    _show_levels(result, fmt)
    if fmt == "table":
        mark = "* " if result.recommended is not None else ""
        click.echo(f"{mark}recommended: {result.reason}")
        if sizing is not None:
            click.echo("\n".join(sizing.steps))
    elif fmt == "json" and sizing is not None:
        click.echo(json.dumps({"sizing": sizing.as_dict()}))
    for level in result.levels:
        for example in level.error_examples:
            notice(ctx, f"concurrency {level.concurrency} failure: {example}")
    notice(ctx, f"levels appended to {bench_table} (run {result.run_id})")
    if plot_path:
        png = write_png(result, Path(plot_path))
        page = write_html(result, png.with_suffix(".html"), sizing)
        notice(ctx, f"plot: {png.resolve()} and {page.resolve()}")


def _show_levels(result: Any, fmt: str) -> None:
    if fmt != "table":
        emit(result.to_arrow(), fmt)
        return
    import pyarrow as pa

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    # narrow enough for an 80-column terminal; every column is in --format json and the HTML
    rows = [
        {
            "conc.": f"{lv.concurrency} *"
            if lv.concurrency == result.recommended
            else str(lv.concurrency),
            "sent": lv.requests,
            "err": lv.errors,
            "429": lv.throttled,
            "req/s": f"{lv.requests_per_s:,.1f}",
            "out tok/s": f"{lv.output_tokens_per_s:,.0f}",
            "p50 ms": ms(lv.latency_p50_ms),
            "p99 ms": ms(lv.latency_p99_ms),
            "TTFT ms": ms(lv.ttft_p50_ms),
        }
        for lv in result.levels
    ]
    emit(pa.Table.from_pylist(rows), fmt)


@click.command("size")
@click.argument("endpoint")
@click.option("--deadline", required=True, help="When the job must be done, e.g. 2h or 1h30m.")
@click.option("--table", "source", help="Table name or query whose rows the job processes.")
@click.option("--column", help="Text column sent to the model (default: the only text column).")
@click.option("--prompt", default="", help="Instruction put before each row's text.")
@click.option("--rows", type=int, help="Rows in the job (default: the table's row count).")
@click.option("--input-tokens", type=float, help="Input tokens per row (instead of --table).")
@click.option("--output-tokens", type=float, help="Output tokens per row (default: as benched).")
@click.option(
    "--bench-table",
    default="main.default.bench_results",
    show_default=True,
    help="Where `lakeinfer bench` stored its levels (the latest run of ENDPOINT is used).",
)
@with_options(_sizing_options)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
@friendly_errors
def size_command(
    ctx: Any,
    endpoint: str,
    deadline: str,
    source: str | None,
    column: str | None,
    prompt: str,
    rows: int | None,
    input_tokens: float | None,
    output_tokens: float | None,
    bench_table: str,
    headroom: float,
    increment: float | None,
    fmt: str,
) -> None:
    """How much of ENDPOINT a batch job needs to finish by --deadline.

    \b
    Uses the latest `lakeinfer bench` run of ENDPOINT: tokens/s needed,
    whether one replica meets the deadline, how many replicas and how much
    provisioned throughput would, with the arithmetic shown.

    \b
    Example:
      lakeinfer size my-llm --table reviews --column text \\
          --prompt "Summarize: " --rows 2000000 --deadline 2h --output-tokens 120
    """
    from lakeinfer.bench.results import latest_run
    from lakeinfer.bench.sizing import (
        Workload,
        capacity_of,
        estimate_workload,
        parse_duration,
        size,
    )

    seconds = parse_duration(deadline)
    if source is None and (input_tokens is None or rows is None):
        raise click.UsageError("give --table, or --rows and --input-tokens")
    with open_session(ctx) as session:
        run = latest_run(session, endpoint, bench_table)
        level = run.recommended_level or max(run.levels, key=lambda lv: lv.requests_per_s)
        out = output_tokens if output_tokens is not None else level.mean_output_tokens
        if source is not None:
            workload = estimate_workload(
                session,
                source,
                seconds,
                column=column,
                prompt=prompt,
                rows=rows,
                output_tokens=out,
            )
            if input_tokens is not None:
                workload = Workload(workload.rows, input_tokens, out, seconds)
        else:
            assert rows is not None and input_tokens is not None
            workload = Workload(rows, input_tokens, out, seconds)
    sizing = size(workload, capacity_of(run), headroom=headroom, increment=increment)
    if fmt == "json":
        click.echo(json.dumps(sizing.as_dict()))
    else:
        click.echo("\n".join(sizing.steps))


def register_commands(cli: click.Group) -> None:
    cli.add_command(bench)
    cli.add_command(size_command)
