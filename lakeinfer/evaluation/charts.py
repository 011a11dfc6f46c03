"""Shared pieces of the HTML reports: charts as embedded PNGs and one page style.

Charts are drawn with matplotlib's object API (``Figure``, no pyplot), so no GUI backend and no
global state is involved; each is embedded as ``<img src="data:image/png;base64,...">`` so a
report is one self-contained file that opens anywhere, offline.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #1d2733; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem;
     border-bottom: 2px solid #e3e8ef; padding-bottom: .3rem; }
.meta { color: #5b6878; font-size: .9rem; }
.headline { font-size: 2.4rem; font-weight: 700; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; margin: 1rem 0; }
.card { background: #f5f7fa; border-radius: 8px; padding: .7rem 1rem; min-width: 8rem; }
.card .label { color: #5b6878; font-size: .8rem; text-transform: uppercase; }
.card .value { font-size: 1.4rem; font-weight: 600; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border-bottom: 1px solid #e3e8ef; padding: .35rem .7rem; text-align: left;
         vertical-align: top; }
th { background: #f5f7fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { background: #fdecea; color: #9b2c2c; padding: 0 .3rem; border-radius: 3px; }
.good { background: #e9f7ef; color: #22543d; padding: 0 .3rem; border-radius: 3px; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #5b6878; font-size: .85rem; }
.judged { border-left: 4px solid #b7791f; background: #fffaf0; padding: .6rem 1rem; }
.note { color: #5b6878; font-size: .9rem; }
"""


def png_data_uri(figure: Figure, dpi: int = 110) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def img(figure: Figure, alt: str, caption: str | None = None) -> str:
    """A ``<figure>`` embedding ``figure``."""
    tag = f'<img src="{png_data_uri(figure)}" alt="{html.escape(alt)}">'
    if caption:
        tag += f"<figcaption>{html.escape(caption)}</figcaption>"
    return f'<figure class="chart">{tag}</figure>'


def page(title: str, body: str) -> str:
    """A complete HTML document."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def new_figure(width: float = 7.5, height: float = 3.6) -> Figure:
    """A figure with the reports' look."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure


def table_html(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """An HTML table; cells are already escaped HTML; ``numeric`` column indexes align right."""
    numeric = numeric or set()
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
