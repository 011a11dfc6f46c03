"""The standalone-cluster example: master and worker processes on this machine, stopped after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "spark" / "standalone_cluster.py"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_standalone_cluster_runs_ai_query_and_stops_its_daemons():
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE.parents[2])}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--rows", "6"],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    started, rows, summary = lines[0], lines[1:-1], lines[-1]
    assert started["master"].startswith("spark://127.0.0.1:")
    assert [(r["id"], r["result"]) for r in rows] == [(i, f"echo: item {i % 3}") for i in range(6)]
    assert summary["executors"] == 1
    # one partition, three distinct requests; ORDER BY's sampling pass fills the cache and the
    # sort's own pass is answered from it
    assert summary["calls"] == 3
    assert not any(_alive(pid) for pid in started["pids"])
