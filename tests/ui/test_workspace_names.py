"""The workspace's run endpoint runs SQL through the session, so the name rule guards it too:
no statement sent to it reaches a file outside the home."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lakeinfer
from lakeinfer.ui.server import WorkspaceServer
from tests.ui.conftest import call

TOKEN = "names-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _run(base: str, sql: str) -> dict[str, Any]:
    status, run = call(base, "/api/runs", {"sql": sql}, AUTH)
    assert status == 201, run
    deadline = time.monotonic() + 30
    while run["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        run = call(base, f"/api/runs/{run['id']}", headers=AUTH)[1]
    return run


def test_names_escaping_the_home_fail_through_the_run_endpoint(home: Path, tmp_path: Path):
    outside = tmp_path / "outside"
    (outside / "victim").mkdir(parents=True)
    (outside / "victim" / "keep.txt").write_text("precious")
    refused = {
        "CREATE TABLE `..`.`..`.`x` AS SELECT 42": "invalid catalog name '..'",
        f"CREATE CATALOG `{outside}/made`": "names cannot contain '/'",
        f"DROP SCHEMA `{outside}`.`victim` CASCADE": "names cannot contain '/'",
        "CREATE TABLE main.default.`` AS SELECT 1": "invalid table name '': names cannot be empty",
        "CREATE TABLE main.default.`%2e%2e` AS SELECT 1": "names cannot contain '%'",
    }
    with lakeinfer.connect(home, notice=lambda m: None, progress=False, sandboxed=True) as session:
        with WorkspaceServer(session, token=TOKEN) as server:
            base = server.url.split("?")[0]
            for sql, message in refused.items():
                run = _run(base, sql)
                assert run["state"] == "failed", sql
                assert message in run["error"]["message"], run["error"]
            assert (
                _run(base, "CREATE TABLE main.default.`ok name` AS SELECT 1 AS x")["state"]
                == "finished"
            )
    assert sorted(p.name for p in outside.rglob("*")) == ["keep.txt", "victim"]
    assert (outside / "victim" / "keep.txt").read_text() == "precious"
    assert not (tmp_path / "x").exists()
    assert (home / "main" / "default" / "ok name" / "_delta_log").is_dir()
