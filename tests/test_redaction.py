"""Registered secrets are masked in texts, answers, exceptions and log records."""

from __future__ import annotations

import json
import logging
import secrets
from urllib.parse import quote

import pytest

from lakeinfer import redaction
from lakeinfer.endpoints.base import Outcome
from lakeinfer.errors import EndpointError, LakeinferError


def fresh(prefix: str = "sk-") -> str:
    """A secret nobody else registered (the registry lives as long as the process)."""
    value = prefix + secrets.token_hex(20)
    redaction.register(value)
    return value


def test_the_value_and_its_written_forms_are_masked():
    key = fresh('sk-"odd/+=&')
    text = (
        f"Authorization: Bearer {key}; url ?k={quote(key, safe='')}; json {json.dumps({'k': key})}"
    )
    masked = redaction.redact(text)
    assert "Bearer ***" in masked and "?k=***" in masked and '{"k": "***"}' in masked
    assert key not in masked and quote(key, safe="") not in masked
    assert json.dumps(key)[1:-1] not in masked


def test_a_leading_fragment_is_masked_as_far_as_it_matches():
    key = fresh()
    cut = key[: redaction.FRAGMENT + 3]
    assert redaction.redact(f"key {cut}... is wrong") == "key ***... is wrong"
    short = key[: redaction.FRAGMENT - 1]
    assert redaction.redact(f"prefix {short}") == f"prefix {short}"


def test_secrets_sharing_a_long_prefix_are_each_masked_whole():
    common = "shared-prefix-of-tokens-" + secrets.token_hex(4)
    first, second = common + "-first-one", common + "-second"
    redaction.register(first)
    redaction.register(second)
    masked = redaction.redact(f"a {second} b {first} c {common}")
    assert masked == "a *** b *** c ***"


def test_short_values_are_ignored_so_ordinary_text_survives():
    redaction.register("echo")
    redaction.register("")
    redaction.register(None)
    assert redaction.redact("echo: hello") == "echo: hello"


def test_answers_are_masked_only_where_they_hold_a_secret():
    key = fresh()
    vector = [0.5, 0.25]
    assert redaction.redact_value(vector) is vector
    assert redaction.redact_value({"a": [f"x {key}"], "n": 1}) == {"a": ["x ***"], "n": 1}
    assert redaction.redact_value([1, None, (0.5, key)]) == [1, None, (0.5, "***")]
    outcome = Outcome(value=f"my key is {key}", error=None)
    redaction.redact_outcome(outcome)
    assert outcome.value == "my key is ***"
    failed = Outcome(error=f"HTTP 401: Incorrect API key provided: {key}")
    redaction.redact_outcome(failed)
    assert failed.error == "HTTP 401: Incorrect API key provided: ***"


def test_exception_messages_never_hold_a_secret():
    key = fresh()
    error = EndpointError("chat", f"HTTP 400: headers {{'Authorization': 'Bearer {key}'}}", row=3)
    assert key not in str(error) and key not in repr(error)
    assert "row 3" in str(error) and "Bearer ***" in str(error)
    assert key not in str(LakeinferError(f"upstream said {key}"))


def test_log_records_of_lakeinfer_loggers_are_masked(caplog: pytest.LogCaptureFixture):
    from lakeinfer.endpoints import llama_server

    key = fresh()
    caplog.set_level(logging.DEBUG, logger=llama_server.log.name)
    llama_server.log.debug("restoring slot %d failed: %s", 1, f"bad token {key}")
    try:
        raise RuntimeError(f"boom {key}")
    except RuntimeError:
        llama_server.log.exception("failed")
    assert "restoring slot 1 failed: bad token ***" in caplog.text
    assert key not in caplog.text
    for record in caplog.records:
        assert key not in logging.Formatter().format(record)
