"""The workspace page in headless Chromium, against a real server, session and lakehouse.

One server and one browser serve the whole module (the tests run in order and build on each
other's tables, as a person would); each main screen is saved as a screenshot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import lakeinfer
from lakeinfer.catalog.delta_catalog import TableName
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from lakeinfer.ui import sources
from lakeinfer.ui.server import WorkspaceServer

pytestmark = pytest.mark.timeout(120)

REPORT = """<!doctype html><html><head><meta charset="utf-8">
<title>Evaluation: review sentiment</title>
<style>body{font:14px sans-serif;margin:24px} rect{fill:#0b6e75}</style></head>
<body><h1>Evaluation: review sentiment</h1><p>accuracy 0.92 on 50 rows</p>
<svg id="chart" width="320" height="120" role="img" aria-label="per-field accuracy">
<rect x="10" y="20" width="280" height="24"/><rect x="10" y="60" width="200" height="24"/>
<text x="14" y="37" fill="white">sentiment 0.92</text><text x="14" y="77" fill="white">topic 0.71</text>
</svg></body></html>"""


@pytest.fixture(scope="module")
def slow_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency_ms=300) as server:
        yield server


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory, _server: FakeOpenAIServer, slow_server
) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("ui") / "lakehouse"
    prices = {"price_input_per_million": 0.5, "price_output_per_million": 1.5}
    endpoints = {
        "fast-llm": make_endpoint(base_url=_server.base_url, model="fast", **prices),
        "slow-llm": make_endpoint(
            base_url=slow_server.base_url, model="slow", max_concurrency=2, **prices
        ),
    }
    save_config(home, LakeinferConfig(endpoints=endpoints))
    _seed(home)
    with lakeinfer.connect(
        home, notice=lambda message: None, progress=False, sandboxed=True
    ) as session:
        with WorkspaceServer(session) as server:
            yield {"url": server.url, "session": session, "home": home, "slow": slow_server}


def _seed(home: Path) -> None:
    """Tables to look at, a job run with its tasks, a stream checkpoint and a report."""
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE nums (n INT, label STRING)")
        values = ", ".join(f"({i}, 'n{i}')" for i in range(1, 251))
        session.sql(f"INSERT INTO nums VALUES {values}")
        session.sql("CREATE TABLE reviews (id INT, text STRING)")
        rows = ", ".join(f"({i}, 'review number {i}: the kettle works')" for i in range(1, 41))
        session.sql(f"INSERT INTO reviews VALUES {rows}")
        session.sql("CREATE TABLE summaries (id INT, summary STRING)")
        catalog = session.catalog
        catalog.create_schema("system", "lakeflow", if_not_exists=True)
        started = pa.scalar(1_764_000_000_000_000, pa.timestamp("us", tz="UTC"))
        catalog.write(
            sources.JOB_RUNS_TABLE,
            pa.table(
                {
                    "run_id": ["r-1"],
                    "job_name": ["nightly_summaries"],
                    "trigger": ["manual"],
                    "status": ["SUCCESS"],
                    "started_at": pa.array([started.as_py()], started.type),
                    "duration_s": [12.5],
                    "error": pa.array([None], pa.string()),
                }
            ),
            "append",
        )
        catalog.write(
            sources.TASK_RUNS_TABLE,
            pa.table(
                {
                    "run_id": ["r-1", "r-1"],
                    "task_key": ["load", "summarize"],
                    "attempt": pa.array([1, 1], pa.int32()),
                    "status": ["SUCCESS", "SUCCESS"],
                    "started_at": pa.array([started.as_py()] * 2, started.type),
                    "duration_s": [2.0, 10.5],
                    "depends_on": [[], ["load"]],
                    "error": pa.array([None, None], pa.string()),
                }
            ),
            "append",
        )
    (home / "_checkpoints" / "main" / "default" / "summaries_stream").mkdir(parents=True)
    (home / "_reports").mkdir()
    (home / "_reports" / "eval_report.html").write_text(REPORT)


# -- helpers -----------------------------------------------------------------------------------
def _wait(driver: Any, condition: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition(driver)
        except Exception:  # the element is not there yet, or was just replaced
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _all(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _open(driver: Any, url: str, view: str) -> None:
    driver.get(f"{url}#{view}")
    _wait(driver, lambda d: d.execute_script("return document.body.dataset.ready"), what="page")


def _type_sql(driver: Any, text: str) -> None:
    """Replace the editor's text by typing it, as a person would."""
    from selenium.webdriver.common.keys import Keys

    content = _css(driver, ".cm-content")
    content.click()
    content.send_keys(Keys.CONTROL, "a")
    content.send_keys(Keys.DELETE)
    content.send_keys(text)
    content.send_keys(Keys.ESCAPE)  # close the completion list
    # closing brackets and quotes are inserted by the editor as you type; it must end up exact
    _wait(
        driver,
        lambda d: d.execute_script("return window.lakeinferEditor.getValue()") == text,
        what=f"editor text {text!r}",
    )


def _run_and_wait(driver: Any, state: str = "finished") -> None:
    """Run the editor's text with Ctrl+Enter; wait for the new run to reach ``state`` (and,
    once over, for its results to be drawn)."""
    from selenium.webdriver.common.keys import Keys

    before = driver.execute_script("return document.body.dataset.run || ''")
    _css(driver, ".cm-content").send_keys(Keys.CONTROL, Keys.ENTER)
    run = _wait(
        driver,
        lambda d: (
            (d.execute_script("return document.body.dataset.run") or before) != before
            and d.execute_script("return document.body.dataset.run")
        ),
        what="a new run",
    )
    if state != "running":
        _wait(
            driver,
            lambda d: d.execute_script("return document.body.dataset.finished") == run,
            what="the run to finish",
        )
    _wait(
        driver,
        lambda d: _css(d, "[data-testid=run-state]").text.startswith(state),
        what=f"run state {state}",
    )


def _grid(driver: Any) -> tuple[list[str], list[list[str]]]:
    """Column headers and cell texts of the results grid (one script call, not one per cell)."""
    return driver.execute_script(
        """
        const grid = document.querySelector("[data-testid=results] table");
        const text = (cells) => [...cells].slice(1).map((c) => c.innerText);
        return [text(grid.querySelectorAll("thead th")),
                [...grid.querySelectorAll("tbody tr")].map((tr) => text(tr.children))];
        """
    )


# -- tests -------------------------------------------------------------------------------------
def test_type_a_query_run_it_and_read_the_grid(browser, workspace, screenshots):
    _open(browser, workspace["url"], "sql")
    _type_sql(
        browser,
        "SELECT 1 AS id, NULL AS missing, named_struct('a', 2, 'b', 'x') AS s, "
        "array(1, 2) AS xs, 'NULL' AS text",
    )
    _run_and_wait(browser)
    headers, rows = _grid(browser)
    assert headers == [
        "id\nINT",
        "missing\nVOID",
        "s\nSTRUCT<a: INT, b: STRING>",
        "xs\nARRAY<INT>",
        "text\nSTRING",
    ]
    assert rows == [["1", "NULL", '{a: 2, b: "x"}', "[1, 2]", "NULL"]]
    cells = _all(browser, "[data-testid=results] tbody td")
    # SQL NULL is drawn apart from the string 'NULL'
    assert cells[2].find_elements("css selector", ".null")
    assert not cells[5].find_elements("css selector", ".null")
    assert "Rows 1–1 of 1" in _css(browser, "[data-testid=row-range]").text


def test_results_page_through_a_large_result(browser, workspace, screenshots):
    _type_sql(
        browser,
        "SELECT n, label, CASE WHEN n % 7 = 0 THEN NULL ELSE n * 2 END AS twice "
        "FROM nums ORDER BY n",
    )
    _run_and_wait(browser)
    assert _css(browser, "[data-testid=row-range]").text == "Rows 1–100 of 250"
    assert len(_all(browser, "[data-testid=results] tbody tr")) == 100
    screenshots(browser, "01-sql-editor-results")
    _css(browser, "[data-testid=next-page]").click()
    _wait(
        browser,
        lambda d: _css(d, "[data-testid=row-range]").text == "Rows 101–200 of 250",
        what="second page",
    )
    assert _grid(browser)[1][0][:2] == ["101", "n101"]


def test_errors_are_marked_at_their_line_and_column(browser, workspace, screenshots):
    _type_sql(browser, "SELECT 1;\nSELECT n FROM nums WHERE n >;")
    _run_and_wait(browser, "failed")
    where = _css(browser, "[data-testid=error-where]").text
    assert where.startswith("line 2, column")
    assert "syntax error" in _css(browser, "[data-testid=error]").text
    # the editor underlines the place and puts a marker in the gutter
    _wait(browser, lambda d: _all(d, ".cm-lintRange-error"), what="error underline")
    assert _all(browser, ".cm-lint-marker-error")
    screenshots(browser, "02-sql-error")


def test_unknown_table_points_at_the_failing_statement(browser, workspace):
    _type_sql(browser, "SELECT 1;\n\nSELECT * FROM no_such_table")
    _run_and_wait(browser, "failed")
    assert "no_such_table" in _css(browser, "[data-testid=error]").text
    assert _css(browser, "[data-testid=error-where]").text.startswith("line 3,")


def test_ai_query_progress_advances_and_cancel_writes_nothing(browser, workspace, screenshots):
    session, slow = workspace["session"], workspace["slow"]
    summaries = TableName("main", "default", "summaries")
    version = session.catalog.version(summaries)
    # a finished AI query first, so the history has cost to show
    _type_sql(browser, "SELECT id, ai_query('fast-llm', text) AS answer FROM reviews LIMIT 5")
    _run_and_wait(browser)
    assert _css(browser, "[data-testid=m-rows]").text == "5 / 5"
    assert _css(browser, "[data-testid=m-cost]").text.startswith("$")
    assert "5 requests" in _css(browser, "[data-testid=ai-summary]").text

    slow.reset()
    _type_sql(browser, "INSERT INTO summaries SELECT id, ai_query('slow-llm', text) FROM reviews")
    _run_and_wait(browser, "running")
    _wait(browser, lambda d: _done(d) >= 2, what="first answers")
    first = _done(browser)
    assert _css(browser, "[data-testid=m-rows]").text.endswith("/ 40")
    _wait(browser, lambda d: _done(d) >= first + 6, what="progress to advance")
    assert float(_css(browser, "[data-testid=m-rate]").text) > 0
    assert _css(browser, "[data-testid=m-tokens]").text != "0 / 0"
    screenshots(browser, "03-ai-query-progress")
    _css(browser, "[data-testid=cancel]").click()
    _wait(
        browser,
        lambda d: _css(d, "[data-testid=run-state]").text.startswith("cancelled"),
        what="cancelled",
    )
    calls = slow.stats()["chat"]
    time.sleep(0.8)  # longer than one answer takes: no call may follow the cancel
    assert slow.stats()["chat"] == calls < 40
    assert "nothing was written" in _css(browser, "[data-testid=error]").text
    assert session.catalog.version(summaries) == version
    assert session.table("summaries").to_arrow().num_rows == 0
    screenshots(browser, "04-ai-query-cancelled")


def _done(driver: Any) -> int:
    return int(_css(driver, "[data-testid=m-rows]").text.split("/")[0].replace(",", ""))


def test_history_shows_cost_and_reopens_a_query(browser, workspace, screenshots):
    _open(browser, workspace["url"], "history")
    _wait(browser, lambda d: len(_all(d, "[data-testid=history] tbody tr")) == 2, what="history")
    rows = [r.text for r in _all(browser, "[data-testid=history] tbody tr")]
    assert "CANCELLED" in rows[0] and "INSERT INTO summaries" in rows[0]
    assert "FINISHED" in rows[1] and "$" in rows[1]
    screenshots(browser, "05-query-history")
    _all(browser, "[data-testid=reopen]")[1].click()
    _wait(
        browser,
        lambda d: not _css(d, "[data-testid=view-sql]").get_attribute("hidden"),
        what="editor view",
    )
    text = browser.execute_script("return window.lakeinferEditor.getValue()")
    assert text.startswith("SELECT id, ai_query('fast-llm', text) AS answer FROM reviews LIMIT 5")


def test_open_a_table_in_the_catalog(browser, workspace, screenshots):
    _open(browser, workspace["url"], "catalog")
    _wait(browser, lambda d: _all(d, "[data-table='main.default.nums']"), what="tree")
    _css(browser, "[data-table='main.default.nums']").click()
    _wait(
        browser,
        lambda d: _css(d, "[data-testid=table-name]").text == "main.default.nums",
        what="table detail",
    )
    assert _css(browser, "[data-testid=row-count]").text == "250 rows"
    assert _css(browser, "[data-testid=table-version]").text == "version 1"
    columns = [r.text for r in _all(browser, "[data-testid=columns] tbody tr")]
    assert columns[0].startswith("n INT") and columns[1].startswith("label STRING")
    screenshots(browser, "06-catalog-table")
    _css(browser, "[data-tab=history]").click()
    versions = _wait(browser, lambda d: _all(d, "[data-testid=versions] tbody tr"), what="versions")
    assert [v.text.split()[0] for v in versions] == ["1", "0"]
    _css(browser, "[data-tab=preview]").click()
    _wait(
        browser,
        lambda d: _all(d, "[data-testid=table-tab] [data-testid=grid] tbody tr"),
        what="preview rows",
    )
    assert (
        "Rows 1–50 of 50" in _css(browser, "[data-testid=table-tab] [data-testid=row-range]").text
    )
    # time travel to version 0: the table was empty then
    from selenium.webdriver.support.ui import Select

    Select(_css(browser, "[data-testid=version]")).select_by_value("0")
    _wait(
        browser,
        lambda d: "of 0" in _css(d, "[data-testid=table-tab] [data-testid=row-range]").text,
        what="version 0 preview",
    )


def test_endpoints_list_and_health_check(browser, workspace, screenshots):
    _open(browser, workspace["url"], "endpoints")
    card = _wait(browser, lambda d: _css(d, "[data-endpoint='fast-llm']"), what="endpoint card")
    assert "openai" in card.text and "$0.5 in / $1.5 out" in card.text
    card.find_element("css selector", "[data-testid=check]").click()
    _wait(
        browser,
        lambda d: "healthy" in card.find_element("css selector", "[data-testid=health]").text,
        what="health result",
    )
    assert "ms" in card.find_element("css selector", "[data-testid=health]").text
    screenshots(browser, "07-endpoints")


def test_job_runs_with_their_tasks(browser, workspace, screenshots):
    _open(browser, workspace["url"], "jobs")
    run = _wait(browser, lambda d: _css(d, "[data-testid=jobs] tbody tr"), what="job runs")
    assert "nightly_summaries" in run.text and "SUCCESS" in run.text
    run.click()
    tasks = _wait(browser, lambda d: _all(d, "[data-testid=tasks] tbody tr"), what="tasks")
    assert [t.text.split()[0] for t in tasks] == ["load", "summarize"]
    screenshots(browser, "08-jobs")


def test_streams_panel_lists_checkpoints(browser, workspace, screenshots):
    _open(browser, workspace["url"], "streams")
    row = _wait(browser, lambda d: _css(d, "[data-testid=streams] tbody tr"), what="streams")
    assert row.text.startswith("main.default.summaries_stream")
    assert "STOPPED" in row.text  # no process holds its checkpoint
    screenshots(browser, "09-streams")


def test_open_a_report_with_its_chart(browser, workspace, screenshots):
    _open(browser, workspace["url"], "reports")
    item = _wait(browser, lambda d: _css(d, "[data-report]"), what="report list")
    assert "Evaluation: review sentiment" in item.text and "evaluation" in item.text
    item.click()
    frame = _wait(browser, lambda d: _css(d, "[data-testid=report-frame]"), what="report frame")
    browser.switch_to.frame(frame)
    try:
        _wait(browser, lambda d: _all(d, "svg#chart rect"), what="chart in the report")
        assert "accuracy 0.92" in _css(browser, "body").text
    finally:
        browser.switch_to.default_content()
    screenshots(browser, "10-reports")


def test_phone_sized_window_keeps_the_layout(browser, workspace, screenshots):
    browser.set_window_size(390, 844)
    try:
        for view in ("sql", "catalog/main.default.nums", "history", "reports"):
            _open(browser, workspace["url"], view)
            time.sleep(0.3)
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"#{view} scrolls sideways by {overflow}px on a phone"
            if view == "sql":
                _type_sql(browser, "SELECT n, label FROM nums ORDER BY n LIMIT 20")
                _run_and_wait(browser)
                nav = _css(browser, "#nav").rect
                assert nav["width"] <= 390 and nav["y"] < 100  # the menu sits on top
                screenshots(browser, "11-phone-sql")
            if view.startswith("catalog"):
                _wait(browser, lambda d: _css(d, "[data-testid=table-name]"), what="table")
                screenshots(browser, "12-phone-catalog")
    finally:
        browser.set_window_size(1280, 860)
