"""Charts of a benchmark: throughput and latency against concurrency, as PNG and HTML."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from lakeinfer.evaluation.charts import img, new_figure, page, table_html

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lakeinfer.bench.results import BenchResult
    from lakeinfer.bench.sizing import Sizing


def figure(bench: BenchResult) -> Figure:
    """Two panels: requests/s and output tokens/s (left), latency percentiles and time to
    first token (right), against concurrency on a log scale; the recommended level marked."""
    fig = new_figure(11.0, 4.2)
    left, right = fig.subplots(1, 2)
    levels = bench.levels
    x = [lv.concurrency for lv in levels]
    fig.suptitle(f"Benchmark of {bench.endpoint} ({bench.model}), run {bench.run_id}")

    left.plot(x, [lv.requests_per_s for lv in levels], "o-", color="#3b6ea5", label="requests/s")
    left.set_ylabel("requests/s", color="#3b6ea5")
    left.set_ylim(bottom=0)
    tokens = left.twinx()
    tokens.plot(
        x, [lv.output_tokens_per_s for lv in levels], "s--", color="#2f855a", label="output tok/s"
    )
    tokens.set_ylabel("output tokens/s", color="#2f855a")
    tokens.set_ylim(bottom=0)
    left.set_title("Throughput")

    for name, style in (("p50", "o-"), ("p90", "^-"), ("p99", "v-")):
        values = [getattr(lv, f"latency_{name}_ms") for lv in levels]
        right.plot(x, [v if v is not None else float("nan") for v in values], style, label=name)
    if any(lv.ttft_p50_ms is not None for lv in levels):
        values = [lv.ttft_p50_ms if lv.ttft_p50_ms is not None else float("nan") for lv in levels]
        right.plot(x, values, "x:", color="#555555", label="TTFT p50")
    right.set_ylabel("latency (ms)")
    right.set_ylim(bottom=0)
    right.set_title("Latency")

    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(c) for c in x])
        ax.minorticks_off()
        ax.set_xlabel("concurrency")
        ax.grid(alpha=0.3)
        if bench.recommended is not None:
            ax.axvline(
                bench.recommended,
                color="#b7791f",
                linewidth=1.5,
                linestyle="--",
                label=f"recommended: {bench.recommended}",
            )
    # the recommendation is named in the legends (beside the plots), never over the lines
    handles = left.get_legend_handles_labels()[0] + tokens.get_legend_handles_labels()[0]
    for ax, shown in ((left, handles), (right, right.get_legend_handles_labels()[0])):
        ax.legend(
            shown,
            [str(h.get_label()) for h in shown],
            loc="upper left",
            bbox_to_anchor=(0.0, -0.18),
            ncol=3,
            frameon=False,
            fontsize=8,
        )
    for lv in levels:
        if lv.errors or lv.throttled:
            left.annotate(
                f"{lv.errors} err, {lv.throttled}x429",
                (lv.concurrency, lv.requests_per_s),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontsize=8,
                color="#c53030",
            )
    return fig


def write_png(bench: BenchResult, path: Path) -> Path:
    """The chart as a PNG file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure(bench).savefig(path, format="png", dpi=110, bbox_inches="tight")
    return path


def render_html(bench: BenchResult, sizing: Sizing | None = None) -> str:
    """A page with the chart, the levels table, the recommendation and the sizing steps."""
    e = html.escape
    headers = [
        "concurrency",
        "requests",
        "errors",
        "429s",
        "requests/s",
        "input tok/s",
        "output tok/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "TTFT p50 ms",
    ]
    rows = [
        [
            f"<b>{lv.concurrency}</b>"
            if lv.concurrency == bench.recommended
            else str(lv.concurrency),
            str(lv.requests),
            str(lv.errors),
            str(lv.throttled),
            f"{lv.requests_per_s:,.1f}",
            f"{lv.input_tokens_per_s:,.0f}",
            f"{lv.output_tokens_per_s:,.0f}",
            _ms(lv.latency_p50_ms),
            _ms(lv.latency_p90_ms),
            _ms(lv.latency_p99_ms),
            _ms(lv.ttft_p50_ms),
        ]
        for lv in bench.levels
    ]
    estimated = any(lv.tokens_estimated for lv in bench.levels)
    body = [
        f"<h1>Benchmark of <code>{e(bench.endpoint)}</code></h1>",
        f'<p class="meta">model <code>{e(bench.model)}</code> · run <code>{bench.run_id}</code>'
        f" · {bench.started_at:%Y-%m-%d %H:%M:%S} UTC</p>",
        f'<section id="recommendation"><h2>Recommendation</h2><p>{e(bench.reason)}</p></section>',
        '<section id="chart"><h2>Throughput and latency</h2>'
        + img(figure(bench), "throughput and latency against concurrency")
        + "</section>",
        '<section id="levels"><h2>Levels</h2>'
        + table_html(headers, rows, numeric=set(range(len(headers))))
        + (
            '<p class="note">Token counts are estimated (the endpoint reported no usage).</p>'
            if estimated
            else ""
        )
        + "</section>",
    ]
    failures = [
        f"<li>concurrency {lv.concurrency}: {e(example)}</li>"
        for lv in bench.levels
        for example in lv.error_examples
    ]
    if failures:
        body.append(
            '<section id="failures"><h2>Failures</h2><ul>' + "".join(failures) + "</ul></section>"
        )
    if sizing is not None:
        steps = "\n".join(e(s) for s in sizing.steps)
        body.append(f'<section id="sizing"><h2>Capacity sizing</h2><pre>{steps}</pre></section>')
    return page(f"Benchmark {bench.endpoint}", "\n".join(body))


def write_html(bench: BenchResult, path: Path, sizing: Sizing | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(bench, sizing), encoding="utf-8")
    return path


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"
