"""Endpoint configuration and routing for every provider."""

from __future__ import annotations

import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, load_config, make_endpoint, save_config
from lakeinfer.errors import ConfigError
from tests.test_cli import run


def test_cli_creates_local_model_endpoints_with_their_defaults(home):
    result = run(
        home,
        "endpoints",
        "create",
        "ner",
        "--provider",
        "transformers",
        "--model",
        "/m/ner",
        "--option",
        "aggregation_strategy=simple",
        "--max-batch",
        "16",
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == "created endpoint 'ner' (transformers, token-classification, /m/ner)"
    )
    endpoint = load_config(home).endpoints["ner"]
    assert endpoint.options == {"aggregation_strategy": "simple"} and endpoint.max_batch == 16
    result = run(home, "endpoints", "create", "m", "--provider", "mlflow")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: provider 'mlflow' needs --model-uri"


def test_provider_and_task_must_fit():
    with pytest.raises(ConfigError, match="provider 'openai' needs --base-url, --model"):
        make_endpoint(provider="openai")
    with pytest.raises(ConfigError, match="'sentence-transformers' does not serve task 'chat'"):
        make_endpoint(provider="sentence-transformers", model="/m", task="chat")
    assert make_endpoint(provider="databricks", base_url="https://w", model="e").task == "custom"


def test_local_models_run_one_batch_at_a_time_unless_configured(home):
    save_config(
        home,
        LakeinferConfig(
            endpoints={
                "a": make_endpoint(provider="sentence-transformers", model="/m"),
                "b": make_endpoint(provider="sentence-transformers", model="/m", max_concurrency=2),
            }
        ),
    )
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        a, b = session.registry.limits_of("a"), session.registry.limits_of("b")
    assert (a.max_concurrency, a.max_retries, a.timeout_s) == (1, 0, 3600.0)
    assert (b.max_concurrency, b.max_retries) == (2, 0)


def test_only_the_embedded_chat_model_scores_completions_and_asking_starts_nothing(
    monkeypatch, home
):
    from lakeinfer.endpoints.registry import EndpointRegistry

    monkeypatch.delenv("DATABRICKS_HOST", raising=False)
    config = LakeinferConfig()
    config.endpoints["my-llm"] = make_endpoint(
        provider="openai", base_url="http://127.0.0.1:9/v1", model="m"
    )
    registry = EndpointRegistry(config, notice=lambda _: None)
    assert registry.scores_completions("databricks-meta-llama-3-3-70b-instruct")
    assert not registry.scores_completions("my-llm")
    assert registry._providers == {}  # no llama-server was started to find out
    monkeypatch.setenv("DATABRICKS_HOST", "https://example.invalid")
    monkeypatch.setenv("DATABRICKS_TOKEN", "t")
    # a workspace answers the pre-provisioned names: its prompts stay Databricks-like
    assert not registry.scores_completions("databricks-meta-llama-3-3-70b-instruct")
