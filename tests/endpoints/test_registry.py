"""Endpoint configuration and routing for every provider."""

from __future__ import annotations

import subprocess
import sys

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
    assert result.stderr.strip() == "error: endpoint 'm': provider 'mlflow' needs --model-uri"


def test_provider_and_task_must_fit():
    with pytest.raises(ConfigError, match="provider 'openai' needs --base-url, --model"):
        make_endpoint(provider="openai")
    with pytest.raises(ConfigError, match="'sentence-transformers' does not serve task 'chat'"):
        make_endpoint(provider="sentence-transformers", model="/m", task="chat")
    assert make_endpoint(provider="databricks", base_url="https://w", model="e").task == "custom"


def test_configuration_asks_the_provider_table_it_does_not_import():
    """The configuration validates an endpoint against the provider table in ``endpoints/``
    even in a process where nothing imported that table yet."""
    script = (
        "import sys\n"
        "from lakeinfer.config import make_endpoint\n"
        "assert 'lakeinfer.endpoints.providers' not in sys.modules\n"
        "print(make_endpoint(provider='sentence-transformers', model='/m').task)\n"
        "make_endpoint(provider='openai')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "embeddings"
    assert "ConfigError: provider 'openai' needs --base-url, --model" in done.stderr


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


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:/v1", "'http://127.0.0.1:/v1' has an empty port"),
        ("http://127.0.0.1:80a/v1", "'http://127.0.0.1:80a/v1' has an invalid port '80a'"),
        (
            "http://127.0.0.1:70000/v1",
            "'http://127.0.0.1:70000/v1' has an invalid port '70000' (1 to 65535)",
        ),
        ("http://127.0.0.1:0/v1", "'http://127.0.0.1:0/v1' has an invalid port '0' (1 to 65535)"),
        ("127.0.0.1:8000/v1", "'127.0.0.1:8000/v1' has no scheme: start it with http://"),
        ("localhost:8000", "'localhost:8000' has no scheme"),
        ("ftp://host/v1", "'ftp://host/v1' has the unsupported scheme 'ftp'"),
        ("http:///v1", "'http:///v1' has no host"),
        ("http://my host/v1", "'http://my host/v1' contains a space or a control character"),
        ("http://host/v1?key=1", "'http://host/v1?key=1' has a query or fragment"),
        ("http://user:hunter2@host/v1", "'http://***@host/v1' holds credentials"),
    ],
)
def test_malformed_base_urls_are_refused_naming_endpoint_and_url(home, url, problem):
    with pytest.raises(ConfigError) as error:
        make_endpoint("my-llm", base_url=url, model="m")
    assert str(error.value).startswith(f"endpoint 'my-llm': base_url: {problem}"), error.value
    assert "hunter2" not in str(error.value)
    # the same URL written into config.toml by hand is refused when the config is read
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        f'[endpoints.my-llm]\nprovider = "openai"\nbase_url = "{url}"\nmodel = "m"\n'
    )
    with pytest.raises(ConfigError) as loaded:
        load_config(home)
    assert f"endpoints.my-llm.base_url: {problem}" in str(loaded.value)


def test_cli_refuses_an_endpoint_with_an_empty_port(home):
    result = run(
        home,
        "endpoints",
        "create",
        "my-llm",
        "--base-url",
        "http://127.0.0.1:/v1",
        "--model",
        "m",
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: endpoint 'my-llm': base_url: 'http://127.0.0.1:/v1' has an empty port"
    )
    assert not (home / "config.toml").exists()


def test_valid_base_urls_are_kept_without_a_trailing_slash():
    for url in ("http://127.0.0.1:8000/v1/", "https://[::1]:8443/v1", "HTTPS://Example.com"):
        assert make_endpoint(base_url=url, model="m").base_url == url.rstrip("/")


def test_a_malformed_databricks_host_is_named(home, monkeypatch):
    monkeypatch.setenv("DATABRICKS_HOST", "https://adb-1.azuredatabricks.net:/")
    monkeypatch.setenv("DATABRICKS_TOKEN", "t")
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        with pytest.raises(ConfigError, match="DATABRICKS_HOST: .* has an empty port"):
            session.registry.task_of("some-custom-model")


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


def test_a_session_keeps_the_configuration_it_opened_with(tmp_path):
    """Without a config.toml the session's configuration is empty, even when it is first
    looked at after another process wrote one."""
    home = tmp_path / "home"
    with lakeinfer.connect(home) as session:
        later = make_endpoint(base_url="http://127.0.0.1:1/v1", model="m")
        save_config(home, LakeinferConfig(endpoints={"later": later}))
        assert session.config.endpoints == {}
        assert "later" not in session.registry.names()
    with lakeinfer.connect(home) as session:
        assert "later" in session.registry.names()
