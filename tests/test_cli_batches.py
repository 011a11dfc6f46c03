"""`lakeinfer batches list|status|cancel`, run as real processes against the fake batch API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import lakeinfer
from lakeinfer.engine.batch_records import BatchRecords
from tests.conftest import configure
from tests.test_cli import run

STATEMENT = (
    "SET lakeinfer.batch_poll_s = 0.01; "
    "CREATE TABLE out AS SELECT id, ai_query('chat', 'q ' || CAST(id AS STRING)) AS a "
    "FROM range(12)"
)


def _wait_for(predicate, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds}s")
        time.sleep(0.05)


def test_list_status_and_cancel_a_batch_a_statement_waits_for(home: Path, fake_server) -> None:
    configure(home, fake_server, chat={"batch_mode": "on", "price_input_per_million": 1.0})
    assert json.loads(run(home, "batches", "list", "--format", "json").stdout or "[]") == []
    fake_server.hold_batches(True)
    waiting = subprocess.Popen(
        [sys.executable, "-m", "lakeinfer.cli", "--home", str(home), "sql", STATEMENT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: list(BatchRecords(home)), "the batch record")
        listed = run(home, "batches", "list", "--format", "json")
        assert listed.returncode == 0, listed.stderr
        (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert row["endpoint"] == "chat" and row["requests"] == 12
        assert row["collected"] is False and row["batch_id"].startswith("batch_")
        batch_id = row["batch_id"]

        status = run(home, "batches", "status", batch_id, "--format", "json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["status"] == "in_progress"

        cancel = run(home, "batches", "cancel", batch_id, "--format", "csv")
        assert cancel.returncode == 0, cancel.stderr
        header, line = cancel.stdout.splitlines()[:2]
        assert header.startswith("batch_id,endpoint,status")
        assert line.startswith(f"{batch_id},chat,cancelled")

        # the statement waiting for it stops, names the batch and writes nothing
        _, stderr = waiting.communicate(timeout=60)
        assert waiting.returncode == 1
        assert f"batch {batch_id} was cancelled" in stderr
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait(timeout=30)
    fake_server.hold_batches(False)
    with lakeinfer.connect(home, progress=False) as session:
        assert not session.table_exists("out")

    # run again: a cancelled batch is not picked up; the requests go in a new one
    again = run(home, "sql", STATEMENT)
    assert again.returncode == 0, again.stderr
    assert "12 in 1 batch" in again.stderr and "(online price ~$" in again.stderr
    stats = fake_server.stats()
    assert stats["batches"] == 2 and stats["batch_lines"] == 12 and stats["chat"] == 0
    statuses = [
        json.loads(line)["status"]
        for line in run(home, "batches", "list", "--format", "json").stdout.splitlines()
    ]
    assert statuses == ["cancelled", "completed"]


def test_an_unknown_batch_is_named(home: Path, fake_server) -> None:
    configure(home, fake_server, chat={"batch_mode": "on"})
    result = run(home, "batches", "status", "batch_nope")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: no batch 'batch_nope' in this lakehouse (see `lakeinfer batches list`)"
    )


def test_endpoints_take_a_batch_mode_and_batch_prices(home: Path, fake_server) -> None:
    result = run(
        home,
        "endpoints",
        "create",
        "big",
        "--base-url",
        fake_server.base_url,
        "--model",
        "m",
        "--batch-mode",
        "auto",
        "--price-input",
        "0.2",
        "--price-batch-input",
        "0.08",
    )
    assert result.returncode == 0, result.stderr
    with lakeinfer.connect(home, progress=False) as session:
        assert session.registry.batch_mode_of("big") == "auto"
        # the batch output price is unset: half the online one (also unset here)
        assert session.registry.batch_prices_of("big") == (0.08, None)
    bad = run(home, "endpoints", "update", "big", "--batch-mode", "sometimes")
    assert bad.returncode == 2 and "'sometimes' is not one of 'auto', 'on', 'off'" in bad.stderr
