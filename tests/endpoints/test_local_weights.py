"""The embedded model's weights: converted once by llama.cpp's own tool, cached, or as shipped."""

from __future__ import annotations

import logging

import pytest

from lakeinfer.endpoints.llama_server import (
    ServerSettings,
    default_model_path,
    quantize_binary,
)
from lakeinfer.endpoints.local_weights import (
    AS_SHIPPED,
    DEFAULT_ENCODING,
    requested_encoding,
    runtime_weights,
)
from lakeinfer.errors import RuntimeUnavailableError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEINFER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_shipped_model_is_converted_once_and_then_found_in_the_cache(cache):
    source = default_model_path()
    converted = runtime_weights(source, "Q8_0", quantize_binary())
    assert converted.parent == cache / "models"
    assert converted.name.endswith(".Q8_0.gguf")
    with converted.open("rb") as handle:
        assert handle.read(4) == b"GGUF"
    # Q8_0 stores 8.5 bits per weight against Q4_1's 5: a real re-encoding, not a copy
    assert converted.stat().st_size > 1.4 * source.stat().st_size
    written = converted.stat().st_mtime_ns
    # found again without running the converter (a missing one would fail)
    assert runtime_weights(source, "Q8_0", cache / "no-such-tool") == converted
    assert converted.stat().st_mtime_ns == written
    assert not list(converted.parent.glob(".converting-*"))


def test_shipped_encoding_runs_the_file_as_it_is(cache):
    source = default_model_path()
    assert runtime_weights(source, AS_SHIPPED, quantize_binary()) == source
    assert not cache.exists()


def test_failed_conversion_warns_and_runs_the_shipped_file(cache, caplog):
    source = default_model_path()
    with caplog.at_level(logging.WARNING, logger="lakeinfer.endpoints.local_weights"):
        assert runtime_weights(source, "NOT_A_TYPE", quantize_binary()) == source
    assert "could not convert" in caplog.text and "llama-quantize exited" in caplog.text
    assert not list((cache / "models").glob("*"))  # no partial file left behind
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lakeinfer.endpoints.local_weights"):
        assert runtime_weights(source, "Q8_0", cache / "no-such-tool") == source
    assert "not installed" in caplog.text


def test_encoding_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("LAKEINFER_LOCAL_WEIGHTS", raising=False)
    assert requested_encoding(shipped_model=True) == DEFAULT_ENCODING
    assert requested_encoding(shipped_model=False) == AS_SHIPPED  # a user's model is left alone
    monkeypatch.setenv("LAKEINFER_LOCAL_WEIGHTS", "f16")
    assert requested_encoding(shipped_model=False) == "F16"
    monkeypatch.setenv("LAKEINFER_LOCAL_WEIGHTS", "Shipped")
    assert requested_encoding(shipped_model=True) == AS_SHIPPED
    monkeypatch.setenv("LAKEINFER_LOCAL_WEIGHTS", "../q8")
    with pytest.raises(RuntimeUnavailableError, match="LAKEINFER_LOCAL_WEIGHTS='../q8'"):
        ServerSettings.from_env()
