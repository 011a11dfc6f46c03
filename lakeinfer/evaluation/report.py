"""The evaluation report: one self-contained HTML page with embedded charts.

Sections (each an element with that id): ``summary`` (overall score and coverage), ``fields``
(every field's metrics and a score chart), ``classification`` (a confusion matrix per label
field), ``lists`` (precision / recall / F1 of list fields), ``numeric`` (error distribution of
numeric fields), ``model-judged`` (only with a judge, clearly marked) and ``worst-cases`` (the
lowest-scoring rows, field by field).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeinfer.evaluation.charts import img, new_figure, page, table_html

if TYPE_CHECKING:
    from lakeinfer.evaluation.api import Evaluation
    from lakeinfer.evaluation.compare import FieldResult

GOOD, BAD, NEUTRAL = "#2f855a", "#c53030", "#3b6ea5"


def render_report(evaluation: Evaluation, *, worst: int = 10) -> str:
    """The report as an HTML string."""
    parts = [
        "<h1>Evaluation against ground truth</h1>",
        f'<p class="meta">run <code>{evaluation.run_id}</code> · '
        f"{evaluation.evaluated_at:%Y-%m-%d %H:%M:%S} UTC · predictions "
        f"<code>{_e(evaluation.predictions)}</code> · ground truth "
        f"<code>{_e(evaluation.ground_truth)}</code> · key "
        f"<code>{_e(evaluation.comparison.key)}</code></p>",
        _summary(evaluation),
        _fields(evaluation),
    ]
    labels = [f for f in evaluation.fields if f.classification is not None]
    if labels:
        parts.append(_classification(labels))
    lists = [f for f in evaluation.fields if f.kind == "list"]
    if lists:
        parts.append(_lists(lists))
    numeric = [f for f in evaluation.fields if f.kind == "numeric" and f.numeric_errors]
    if numeric:
        parts.append(_numeric(numeric))
    if evaluation.judge is not None:
        parts.append(_judged(evaluation))
    parts.append(_worst(evaluation, worst))
    return page(f"Evaluation {evaluation.run_id}", "\n".join(parts))


def write_report(evaluation: Evaluation, path: Path, *, worst: int = 10) -> Path:
    """Write :func:`render_report` to ``path`` (parent directories created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(evaluation, worst=worst), encoding="utf-8")
    return path


def _summary(evaluation: Evaluation) -> str:
    c = evaluation.coverage
    cards = [
        ("score", f"{evaluation.score:.1%}"),
        ("rows", str(c["rows"])),
        ("parsed", f"{c['parsed']} ({_share(c['parsed'], c['rows'])})"),
        ("missing", str(c["missing"])),
        ("errors", str(c["errors"])),
        ("parse failures", str(c["parse_failures"] + c["empty"])),
        ("extra predictions", str(c["extra_predictions"])),
    ]
    card_html = "".join(
        f'<div class="card"><div class="label">{label}</div><div class="value">{value}</div></div>'
        for label, value in cards
    )
    figure = new_figure(7.5, 1.6)
    ax = figure.add_subplot()
    segments = [
        ("parsed", c["parsed"], GOOD),
        ("errors", c["errors"], BAD),
        ("parse failures", c["parse_failures"] + c["empty"], "#dd6b20"),
        ("missing", c["missing"], "#a0aec0"),
    ]
    left = 0
    for label, count, colour in segments:
        if count:
            ax.barh([0], [count], left=left, color=colour, label=f"{label} ({count})")
            left += count
    ax.set_yticks([])
    ax.set_xlim(0, max(c["rows"], 1))
    ax.set_xlabel("ground-truth rows")
    ax.set_title("Coverage")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=4, frameon=False)
    return (
        '<section id="summary"><h2>Summary</h2>'
        '<p class="note">Scores count every ground-truth row: a missing, failed or unparseable '
        "prediction scores 0.</p>"
        f'<div class="cards">{card_html}</div>'
        f"{img(figure, 'coverage chart')}</section>"
    )


def _fields(evaluation: Evaluation) -> str:
    headers = ["field", "kind", "score", "present", "exact match", "other metrics"]
    rows = []
    for f in evaluation.fields:
        others = [
            f"{name.replace('_', ' ')} {_fmt(value)}"
            for name, value in f.metrics.items()
            if name not in ("score", "present", "exact_match")
        ]
        rows.append(
            [
                f"<code>{_e(f.name)}</code>",
                f.kind,
                _fmt(f.metrics["score"]),
                _fmt(f.metrics["present"]),
                _fmt(f.metrics["exact_match"]),
                " · ".join(others),
            ]
        )
    figure = new_figure(7.5, 0.5 + 0.45 * len(evaluation.fields))
    ax = figure.add_subplot()
    labels = [f.name for f in evaluation.fields][::-1]
    scores = [f.metrics["score"] for f in evaluation.fields][::-1]
    colours = [GOOD if s >= 0.9 else NEUTRAL if s >= 0.6 else BAD for s in scores]
    bars = ax.barh(labels, scores, color=colours)
    ax.bar_label(bars, labels=[f"{s:.0%}" for s in scores], padding=3)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("score (share of rows right; F1 for lists)")
    ax.set_title("Score per field")
    return (
        '<section id="fields"><h2>Fields</h2>'
        + table_html(headers, rows, numeric={2, 3, 4})
        + img(figure, "score per field chart")
        + "</section>"
    )


def _classification(fields: list[FieldResult]) -> str:
    parts = ['<section id="classification"><h2>Classification</h2>']
    for f in fields:
        confusion = f.classification
        assert confusion is not None
        n = len(confusion.labels)
        figure = new_figure(1.6 + 0.6 * n, 1.2 + 0.5 * n)
        ax = figure.add_subplot()
        ax.imshow(confusion.matrix, cmap="Blues")
        ax.set_xticks(range(n), confusion.labels, rotation=30, ha="right")
        ax.set_yticks(range(n), confusion.labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("expected")
        peak = max((max(row) for row in confusion.matrix), default=0)
        for i, row in enumerate(confusion.matrix):
            for j, count in enumerate(row):
                colour = "white" if peak and count > peak / 2 else "#1d2733"
                ax.text(j, i, str(count), ha="center", va="center", color=colour)
        ax.set_title(f"{f.name}: accuracy {confusion.accuracy:.1%}")
        rows = [
            [_e(label), _fmt(p), _fmt(r), _fmt(f1), str(support)]
            for label, (p, r, f1, support) in confusion.per_class().items()
        ]
        parts.append(
            f"<h3><code>{_e(f.name)}</code></h3>"
            + img(figure, f"confusion matrix of {f.name}")
            + table_html(["label", "precision", "recall", "F1", "support"], rows, {1, 2, 3, 4})
        )
    return "".join(parts) + "</section>"


def _lists(fields: list[FieldResult]) -> str:
    figure = new_figure(7.5, 3.0)
    ax = figure.add_subplot()
    width = 0.25
    positions = range(len(fields))
    for offset, (metric, colour) in enumerate(
        [("precision", NEUTRAL), ("recall", "#805ad5"), ("f1", GOOD)]
    ):
        values = [f.metrics[metric] for f in fields]
        bars = ax.bar([p + (offset - 1) * width for p in positions], values, width, color=colour)
        bars.set_label(metric)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=2, fontsize=8)
    ax.set_xticks(list(positions), [f.name for f in fields])
    ax.set_ylim(0, 1.15)
    ax.set_title("List fields (micro-averaged over all items)")
    ax.legend(loc="upper right", ncol=3, frameon=False)
    return '<section id="lists"><h2>Lists</h2>' + img(figure, "list fields chart") + "</section>"


def _numeric(fields: list[FieldResult]) -> str:
    figure = new_figure(7.5, 2.8)
    axes = figure.subplots(1, len(fields), squeeze=False)[0]
    for ax, f in zip(axes, fields, strict=True):
        ax.hist(f.numeric_errors, bins=min(20, max(5, len(f.numeric_errors))), color=NEUTRAL)
        ax.axvline(0, color="#1d2733", linewidth=1)
        ax.set_title(f"{f.name}: predicted - expected")
        ax.set_ylabel("rows")
    return (
        '<section id="numeric"><h2>Numeric fields</h2>'
        + img(figure, "numeric error chart")
        + "</section>"
    )


def _judged(evaluation: Evaluation) -> str:
    judge = evaluation.judge
    assert judge is not None
    parts = [
        '<section id="model-judged" class="judged"><h2>Model-judged (not ground truth)</h2>',
        f"<p>These scores are the opinion of the judge endpoint <code>{_e(judge.endpoint)}</code>"
        " (1 = worst, 5 = best), not a comparison with ground truth.</p>",
        f"<p>{judge.judged} rows judged, {len(judge.failures)} judge failures.</p>",
    ]
    if judge.means:
        figure = new_figure(6.0, 0.6 + 0.5 * len(judge.means))
        ax = figure.add_subplot()
        names = list(judge.means)[::-1]
        values = [judge.means[n] for n in names]
        bars = ax.barh(names, values, color="#b7791f")
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=3)
        ax.set_xlim(0, 5.5)
        ax.set_title(f"Model-judged by {judge.endpoint} (mean, 1-5)")
        parts.append(img(figure, "model-judged scores chart"))
    if judge.failures:
        rows = [[_e(str(k)), _e(v)] for k, v in list(judge.failures.items())[:10]]
        parts.append(table_html(["key", "judge failure"], rows))
    return "".join(parts) + "</section>"


def _worst(evaluation: Evaluation, n: int) -> str:
    rows = evaluation.worst(n)
    parts = ['<section id="worst-cases"><h2>Worst cases</h2>']
    if not rows:
        parts.append("<p>Every row matches its ground truth.</p></section>")
        return "".join(parts)
    parts.append(f'<p class="note">The {len(rows)} lowest-scoring rows, field by field.</p>')
    for row in rows:
        title = f"<code>{_e(evaluation.comparison.key)} = {_e(str(row.key))}</code>"
        status = "" if row.status == "ok" else f" · {row.status}: {_e(row.error or '')}"
        parts.append(f"<h3>{title} · score {row.score:.2f}{status}</h3>")
        cells = []
        from lakeinfer.evaluation.compare import get_path

        for f in evaluation.fields:
            _, expected = get_path(row.expected, f.name)
            found, predicted = get_path(row.predicted, f.name)
            score = row.scores.get(f.name, 0.0)
            css = "good" if score >= 1.0 else "bad"
            cells.append(
                [
                    f"<code>{_e(f.name)}</code>",
                    f"<pre>{_e(_show(expected))}</pre>",
                    f"<pre>{_e(_show(predicted) if found else '(absent)')}</pre>",
                    f'<span class="{css}">{score:.2f}</span>',
                ]
            )
        parts.append(table_html(["field", "expected", "predicted", "score"], cells, {3}))
    return "".join(parts) + "</section>"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _fmt(value: float) -> str:
    return f"{value:.3f}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def _e(text: str) -> str:
    return html.escape(text)
