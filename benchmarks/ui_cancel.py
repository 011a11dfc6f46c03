"""How fast the workspace's Cancel stops an AI statement, against waiting for its calls.

A ``CREATE TABLE ... AS SELECT ai_query(...)`` over 100 rows runs from the workspace's HTTP API
against the fake OpenAI-compatible server answering after ``--latency-ms`` (8 calls in flight).
Half-way through the first answers, Cancel is sent; the time until the run reports
``cancelled`` is compared with the time the calls in flight still had to go (the baseline: a
cancel that only stopped making new calls would wait that long). Each run checks that no table
was written and that the server saw no call after the cancel.

    python benchmarks/ui_cancel.py [--latency-ms 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from lakeinfer.ui.server import WorkspaceServer


def _call(server: WorkspaceServer, path: str, body: object = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    base = f"http://127.0.0.1:{server.port}"
    request = urllib.request.Request(base + path, data=data)
    request.add_header("Authorization", f"Bearer {server.token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=2000.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sql = "CREATE TABLE e AS SELECT ai_query('slow', x) AS y FROM d"
    with FakeOpenAIServer(latency_ms=args.latency_ms) as slow:
        home = Path(tempfile.mkdtemp()) / "lakehouse"
        endpoint = make_endpoint(base_url=slow.base_url, model="m", max_concurrency=8)
        save_config(home, LakeinferConfig(endpoints={"slow": endpoint}))
        with lakeinfer.connect(
            home, notice=lambda m: None, progress=False, sandboxed=True
        ) as session:
            session.sql("CREATE TABLE d (x STRING)")
            session.sql("INSERT INTO d VALUES " + ", ".join(f"('r{i}')" for i in range(100)))
            with WorkspaceServer(session) as server:
                for _ in range(args.repeat):
                    slow.reset()
                    run = _call(server, "/api/runs", {"sql": sql})
                    while _call(server, f"/api/runs/{run['id']}")["progress"]["total"] == 0:
                        time.sleep(0.005)
                    sent = time.monotonic()
                    time.sleep(args.latency_ms / 2000.0)
                    started = time.monotonic()
                    _call(server, f"/api/runs/{run['id']}/cancel", {})
                    while (state := _call(server, f"/api/runs/{run['id']}"))["state"] == "running":
                        time.sleep(0.002)
                    stopped_ms = (time.monotonic() - started) * 1000
                    calls = slow.stats()["chat"]
                    time.sleep(args.latency_ms / 1000.0)
                    assert state["state"] == "cancelled", state
                    assert not session.table_exists("e"), "the cancelled CTAS wrote a table"
                    assert slow.stats()["chat"] == calls, "a call was made after the cancel"
                    left_ms = args.latency_ms - (started - sent) * 1000
                    print(
                        f"cancel stopped the statement in {stopped_ms:6.1f} ms; its {calls} calls "
                        f"in flight had {left_ms:6.0f} ms to go ({left_ms / stopped_ms:5.0f}x)"
                    )


if __name__ == "__main__":
    main()
