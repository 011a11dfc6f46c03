from __future__ import annotations

import pytest

import lakeinfer
from lakeinfer.errors import AnalysisError, ConfigError
from lakeinfer.runtime.limits import EndpointLimits
from lakeinfer.settings import Settings
from tests.conftest import configure


def test_precedence_is_set_then_environment_then_file_then_default():
    settings = Settings({"default_max_tokens": 100}, environ={})
    assert settings.get("lakeinfer.cache") is True
    assert settings.get("default_max_tokens") == 100
    settings = Settings(
        {"default_max_tokens": 100}, environ={"LAKEINFER_DEFAULT_MAX_TOKENS": "200"}
    )
    assert settings.get("default_max_tokens") == 200
    settings.set("lakeinfer.default_max_tokens", "300")
    assert settings.get("default_max_tokens") == 300
    settings.reset("lakeinfer.default_max_tokens")
    assert settings.get("default_max_tokens") == 200


def test_unknown_and_invalid_settings_are_clear_errors():
    settings = Settings(environ={})
    with pytest.raises(AnalysisError, match="did you mean 'lakeinfer.cache'"):
        settings.set("lakeinfer.cahce", "true")
    with pytest.raises(AnalysisError, match="expected true or false"):
        settings.set("lakeinfer.cache", "maybe")
    with pytest.raises(ConfigError, match=r"\[settings\] cache"):
        Settings({"cache": "perhaps"}, environ={})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lakeinfer.default_max_tokens", "many", "expected a whole number >= 0, got 'many'"),
        ("lakeinfer.default_max_tokens", "-1", "expected a whole number >= 0, got '-1'"),
        ("lakeinfer.max_concurrency", "0", "expected a whole number >= 1, got '0'"),
        (
            "lakeinfer.endpoints.my-llm.max_concurrency",
            "2.5",
            "expected a whole number >= 1, got '2.5'",
        ),
        ("lakeinfer.timeout_s", "soon", "expected a number > 0, got 'soon'"),
        ("lakeinfer.timeout_s", "nan", "expected a number > 0, got 'nan'"),
        ("lakeinfer.requests_per_minute", "-5", "expected a number > 0, got '-5'"),
    ],
)
def test_malformed_setting_values_are_refused_in_words(key, value, message):
    with pytest.raises(AnalysisError) as error:
        Settings(environ={}).set(key, value)
    assert str(error.value) == f"SET {key}: {message}"


def test_a_malformed_limit_in_the_environment_is_named():
    settings = Settings(environ={"LAKEINFER_TIMEOUT_S": "forever"})
    with pytest.raises(ConfigError, match="environment LAKEINFER_TIMEOUT_S: expected a number > 0"):
        settings.limits("my-llm", EndpointLimits())


def test_endpoint_limits_per_session_and_per_endpoint():
    settings = Settings(environ={"LAKEINFER_TIMEOUT_S": "9"})
    base = EndpointLimits(max_concurrency=64, max_retries=3)
    settings.set("lakeinfer.max_concurrency", "8")
    settings.set("lakeinfer.endpoints.my-llm.max_concurrency", "2")
    assert settings.limits("other", base).max_concurrency == 8
    assert settings.limits("my-llm", base).max_concurrency == 2
    assert settings.limits("my-llm", base).timeout_s == 9.0
    assert settings.limits("my-llm", base).max_retries == 3


def test_set_in_sql_changes_what_the_scheduler_does(home, fake_server):
    configure(home, fake_server, chat={"max_concurrency": 64})
    with lakeinfer.connect(home, progress=False) as session:
        session.sql("CREATE TABLE t (id BIGINT)")
        session.sql("INSERT INTO t SELECT id FROM range(30)")
        session.sql("SET lakeinfer.endpoints.chat.max_concurrency = 2")
        session.sql("SELECT ai_query('chat', CAST(id AS STRING)) FROM t").to_arrow()
        shown = session.sql("SET lakeinfer.endpoints.chat.max_concurrency").to_pylist()
        listing = {r["key"]: r["value"] for r in session.sql("SET").to_pylist()}
    assert fake_server.stats()["max_in_flight"] <= 2
    assert shown == [{"key": "lakeinfer.endpoints.chat.max_concurrency", "value": "2"}]
    assert listing["lakeinfer.cache"] == "true"
