"""``lakeinfer index create|list|refresh|drop`` through the real command line."""

from __future__ import annotations

import json

import lakeinfer
from tests.conftest import configure
from tests.test_cli import run


def test_index_commands(home, fake_server):
    configure(home, fake_server, emb={"task": "embeddings"})
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE docs AS SELECT * FROM VALUES ('a'), ('b') AS t(body)")
    created = run(
        home,
        "index",
        "create",
        "idx",
        "--table",
        "main.default.docs",
        "--column",
        "body",
        "--endpoint",
        "emb",
        "--format",
        "json",
    )
    assert created.returncode == 0, created.stderr
    (row,) = [json.loads(line) for line in created.stdout.splitlines()]
    assert row["name"] == "main.default.idx" and row["rows"] == 2 and row["dimensions"] == 8
    listed = run(home, "index", "list", "--format", "csv")
    assert listed.returncode == 0 and "main.default.idx" in listed.stdout
    assert run(home, "index", "drop", "idx").returncode == 0
    again = run(home, "index", "drop", "idx")
    assert again.returncode == 1 and "vector index main.default.idx does not exist" in again.stderr
