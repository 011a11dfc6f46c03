"""A CTAS killed with SIGKILL midway resumes: the re-run calls only the rows not yet answered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import lakeinfer
from lakeinfer.runtime.cache import ResponseCache, cache_path
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from tests.conftest import configure

ROWS = 60
CTAS = "CREATE OR REPLACE TABLE answers AS SELECT id, ai_query('slow', k) AS r FROM questions"


def test_sigkilled_ctas_resumes_without_paying_twice(home):
    with FakeOpenAIServer(latency_ms=100) as server:
        configure(home, server, slow={"max_concurrency": 4})
        with lakeinfer.connect(home, progress=False) as session:
            session.sql("CREATE TABLE questions (id BIGINT, k STRING)")
            session.sql(
                f"INSERT INTO questions SELECT id, 'q' || CAST(id AS STRING) FROM range({ROWS})"
            )
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(f"""
                import lakeinfer
                with lakeinfer.connect({str(home)!r}, progress=False) as session:
                    session.sql({CTAS!r})
            """),
            ],
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        deadline = time.monotonic() + 60
        while server.stats()["chat"] < ROWS // 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        time.sleep(0.3)  # let requests already in flight at the server finish
        paid_before = server.stats()["chat"]
        assert ROWS // 2 <= paid_before < ROWS
        assert not (home / "main" / "default" / "answers").exists()  # nothing half-written

        store = ResponseCache(cache_path(home))
        kept = sum(row["entries"] for row in store.stats())
        store.close()
        assert 0 < kept <= paid_before

        with lakeinfer.connect(home, progress=False) as session:
            session.sql(CTAS)
            rows = session.sql("SELECT id, r FROM answers ORDER BY id").to_pylist()
        assert server.stats()["chat"] - paid_before == ROWS - kept
    assert [r["id"] for r in rows] == list(range(ROWS))
    assert all(r["r"] == f"echo: q{r['id']}" for r in rows)
