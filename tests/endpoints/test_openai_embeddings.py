"""HTTP embeddings: many inputs per /v1/embeddings request."""

from __future__ import annotations

import pytest

import lakeinfer
from lakeinfer.testing.fake_openai import embedding_for
from tests.conftest import configure


@pytest.mark.parametrize(("max_batch", "requests"), [(None, 3), (10, 15)])
def test_inputs_are_micro_batched(home, fake_server, max_batch, requests):
    options = {"task": "embeddings", **({"max_batch": max_batch} if max_batch else {})}
    configure(home, fake_server, emb=options)
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        session.sql("CREATE TABLE t AS SELECT id, 'text ' || id AS k FROM range(150) r(id)")
        rows = session.sql("SELECT k, ai_query('emb', k) AS v FROM t ORDER BY id").to_pylist()
    assert rows[149]["v"] == pytest.approx(embedding_for("text 149"))
    # 150 distinct inputs: 64 per request by default (3 requests), or --max-batch per request
    assert fake_server.stats()["embeddings"] == requests
