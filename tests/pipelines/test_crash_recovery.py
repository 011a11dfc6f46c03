"""SIGKILL a real stream process at several points, restart it, and check that every input row
is in the output exactly once and that answers already paid for were not requested again
(calls counted at the fake server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lakeinfer
from lakeinfer.pipelines.status import stream_status
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from tests.conftest import configure

CHILD = Path(__file__).with_name("crash_child.py")
ROWS = 10  # batches of 4, 4 and 2 rows; the kill hits batch 1


def _child(home: Path, checkpoint: Path, point: str = "") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    args = [sys.executable, str(CHILD), str(home), str(checkpoint)] + ([point] if point else [])
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _setup(home: Path, server: FakeOpenAIServer) -> None:
    configure(home, server, chat={"max_retries": 0, "max_concurrency": 2})
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE docs (id INT, text STRING)")
        values = ", ".join(f"({i}, 'row {i}')" for i in range(1, ROWS + 1))
        session.sql(f"INSERT INTO docs VALUES {values}")


def _output(home: Path) -> list[dict]:
    with lakeinfer.connect(home, progress=False) as session:
        return session.sql("SELECT id, answer FROM out ORDER BY id").to_pylist()


def _status(home: Path, checkpoint: Path) -> dict:
    with lakeinfer.connect(home, progress=False) as session:
        return stream_status(session.catalog, str(checkpoint))


def _finish(home: Path, checkpoint: Path) -> None:
    process = _child(home, checkpoint)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.strip() == "done"


def _exactly_once(home: Path) -> None:
    assert _output(home) == [{"id": i, "answer": f"echo: row {i}"} for i in range(1, ROWS + 1)]


def test_sigkill_at_each_point_of_a_batch_loses_and_duplicates_nothing(tmp_path, fake_server):
    """The same batch is killed four times in a row, at each point, then the stream finishes."""
    home, checkpoint = tmp_path / "lakehouse", tmp_path / "ckpt"
    _setup(home, fake_server)
    calls_after_kill = {
        "after_offsets": 4,  # batch 0 done, batch 1 logged, no call for it yet
        "before_commit": 8,  # batch 1 answered, nothing written
        "in_commit": 8,  # answers come from the cache; killed inside the Delta write
        "after_sink_commit": 8,  # written (now or before); the checkpoint does not know yet
    }
    for point, calls in calls_after_kill.items():
        process = _child(home, checkpoint, point)
        _, err = process.communicate(timeout=120)
        assert process.returncode == -signal.SIGKILL, (point, err)
        assert fake_server.stats()["chat"] == calls, point
        # the status counts what the target holds, also a batch the checkpoint has not marked
        assert _status(home, checkpoint)["rows_written"] == len(_output(home)), point
    _finish(home, checkpoint)
    _exactly_once(home)
    status = _status(home, checkpoint)
    assert (status["rows_written"], status["batches_committed"]) == (ROWS, 3)
    # every answer was requested once: restarts asked only for rows never answered
    answered = fake_server.stats()["answered"]
    assert sorted(answered) == sorted(f"row {i}" for i in range(1, ROWS + 1))
    assert set(answered.values()) == {1}
    with lakeinfer.connect(home, progress=False) as session:
        count = session.sql("SELECT count(*) AS n FROM out").to_pylist()
    assert count == [{"n": ROWS}]


def test_sigkill_between_model_calls_loses_and_duplicates_nothing(tmp_path):
    home, checkpoint = tmp_path / "lakehouse", tmp_path / "ckpt"
    with FakeOpenAIServer(latency_ms=40) as server:
        _setup(home, server)
        process = _child(home, checkpoint)
        deadline = time.monotonic() + 60
        while server.stats()["chat"] < 6 and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        before = server.stats()["chat"]
        assert 6 <= before < ROWS
        _finish(home, checkpoint)
        _exactly_once(home)
        stats = server.stats()
    # at most the two requests in flight at the kill are asked again
    assert stats["chat"] <= ROWS + 2
    assert max(stats["answered"].values()) <= 2
