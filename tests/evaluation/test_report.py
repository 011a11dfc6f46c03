"""The HTML report: its sections, embedded charts, and the page as a real browser shows it."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess

import pytest

from lakeinfer.evaluation import evaluate
from lakeinfer.evaluation.report import render_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">')


def test_report_has_its_sections_and_embedded_png_charts(lakehouse, tmp_path):
    result = evaluate(lakehouse, "preds", "truth", "id")
    path = result.report(tmp_path / "out" / "report.html", worst=2)
    page = path.read_text()
    for section in ("summary", "fields", "classification", "lists", "numeric", "worst-cases"):
        assert f'<section id="{section}"' in page
    assert 'id="model-judged"' not in page  # no judge, no model-judged section
    charts = IMG.findall(page)
    assert [alt for _, alt in charts] == [
        "coverage chart",
        "score per field chart",
        "confusion matrix of sentiment",
        "list fields chart",
        "numeric error chart",
    ]
    for data, _ in charts:
        assert base64.b64decode(data).startswith(PNG_MAGIC)
    # worst cases: the two lowest rows, with the parse failure explained
    worst = page[page.index('id="worst-cases"') :]
    assert worst.count("<h3>") == 2
    assert "unparseable: not JSON" in worst
    assert html.escape('"office"') in worst  # an expected list item shown in the diff
    assert "45.8%" in page  # the overall score card


def test_report_escapes_values(lakehouse):
    lakehouse.sql('INSERT INTO preds VALUES (4, \'{"name": "<script>alert(1)</script>"}\')')
    page = render_report(evaluate(lakehouse, "preds", "truth", "id"))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def _browser() -> str | None:
    for name in ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.querySelectorAll("figure.chart img"));
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    sections: Array.from(document.querySelectorAll("section")).map((s) => s.id),
    charts: images.map((i) => [i.complete, i.naturalWidth, i.naturalHeight, i.alt]),
    title: document.title,
  });
  document.body.appendChild(probe);
});
</script>"""


def test_report_loads_in_a_headless_browser_with_every_chart_decoded(lakehouse, tmp_path):
    browser = _browser()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("no headless Chromium (scripts/setup.sh installs chromium-headless-shell)")
        pytest.skip("no headless Chromium installed")
    result = evaluate(lakehouse, "preds", "truth", "id")
    page = render_report(result).replace("</body>", PROBE + "</body>")
    path = tmp_path / "probe.html"
    path.write_text(page)
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found, f"the page did not finish loading: {done.stderr[-2000:]}"
    seen = json.loads(html.unescape(found.group(1)))
    assert seen["title"] == f"Evaluation {result.run_id}"
    assert seen["sections"] == [
        "summary",
        "fields",
        "classification",
        "lists",
        "numeric",
        "worst-cases",
    ]
    assert len(seen["charts"]) == 5
    for complete, width, height, alt in seen["charts"]:
        assert complete and width > 200 and height > 100, alt
