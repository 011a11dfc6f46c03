"""No row waits on a runaway answer: structured answers are bounded by their schema and input,
one that runs to its limit is that row's error (naming the limit) and is asked again only with
what was learned, and a slow answer that keeps streaming is not cut off and sent again.

The endpoint is the fake OpenAI server, playing a model that loops under its JSON grammar
(``[[repeat:...]]``) or one that is slow but steady (``[[slow-tokens:MS]]``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lakeinfer
from lakeinfer.endpoints.llama_server import LlamaServerProvider
from lakeinfer.endpoints.openai_http import OpenAIProvider
from lakeinfer.errors import EndpointError
from lakeinfer.runtime.answer_bounds import QUERY_FLOOR_TOKENS, answer_bound
from lakeinfer.testing.fake_openai import FakeOpenAIServer
from tests.conftest import configure

SCHEMA = "STRUCT<items: ARRAY<STRING>>"


def _query(text: str, extra: str = "") -> str:
    return (
        f"SELECT ai_query('chat', '{text}', responseFormat => '{SCHEMA}'{extra}, "
        "failOnError => false) AS r"
    )


def test_a_looping_structured_answer_is_a_row_error_naming_its_bound(
    home: Path, fake_server: FakeOpenAIServer
):
    configure(home, fake_server, chat={"max_retries": 3})
    prompt = "List the people in: John Doe lives in New York [[repeat:person]]"
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        row = session.sql(_query(prompt)).to_pylist()[0]["r"]
    bodies = fake_server.stats()["bodies"]
    # one call: at temperature 0 the same request would loop the same way
    assert len(bodies) == 1
    bound = bodies[0]["max_tokens"]
    assert QUERY_FLOOR_TOKENS <= bound < 1000
    assert row["result"] is None
    assert (
        f"the answer reached max_tokens={bound} before its JSON was complete"
        in (row["errorMessage"])
    )
    assert "repeating itself" in row["errorMessage"]
    assert f"named_struct('max_tokens', {2 * bound})" in row["errorMessage"]


def test_a_bound_the_query_sets_is_kept_and_named(home: Path, fake_server: FakeOpenAIServer):
    configure(home, fake_server, chat={"max_retries": 3})
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        with pytest.raises(EndpointError, match=r"row 1\): the answer reached max_tokens=40 "):
            session.sql(
                "SELECT ai_query('chat', 'x [[repeat:a]]', responseFormat => "
                "'{\"type\": \"json_object\"}', modelParameters => named_struct('max_tokens', 40))"
            ).to_pylist()
    assert [b["max_tokens"] for b in fake_server.stats()["bodies"]] == [40]


def test_an_endless_repetition_ends_within_the_deadline(home: Path, fake_server: FakeOpenAIServer):
    """A server that ignores max_tokens and streams its loop under a JSON schema for ever: the
    row ends at the overall cap, with an error naming it, after one call."""
    configure(home, fake_server)
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        session.sql("SET lakeinfer.max_request_s = 1.5")
        session.sql("SET lakeinfer.timeout_s = 1")
        session.registry.register(
            OpenAIProvider("endless", base_url=fake_server.base_url, model="m", stream=True)
        )
        row = session.sql(
            f"SELECT ai_query('endless', 'x [[endless:a]]', responseFormat => '{SCHEMA}', "
            "failOnError => false) AS r"
        ).to_pylist()[0]["r"]
        stats = session.last_stats.ai
    assert row["result"] is None
    assert (
        "timed out after 1.5s while the answer was still arriving (max_request_s)"
        in (row["errorMessage"])
    )
    assert "SET lakeinfer.max_request_s = 3" in row["errorMessage"]
    assert (stats.calls, stats.retries) == (1, 0)
    assert fake_server.stats()["chat"] == 1


def test_a_repeating_answer_is_asked_again_only_with_a_repetition_penalty(
    home: Path, fake_server: FakeOpenAIServer
):
    """On llama.cpp's server the loop is asked once more with its repetition penalties (the
    fake answers normally under a penalty): never the same request again."""
    configure(home, fake_server)
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        session.registry.register(
            LlamaServerProvider("llama", slots=1, base_url=fake_server.base_url, model="m")
        )
        row = session.sql(
            f"SELECT ai_query('llama', 'names [[repeat:ann]]', responseFormat => '{SCHEMA}') AS r"
        ).to_pylist()[0]["r"]
    first, second = fake_server.stats()["bodies"]
    assert first["stream"] and "dry_multiplier" not in first and "frequency_penalty" not in first
    assert second["dry_multiplier"] > 0 and second["frequency_penalty"] > 0
    assert second["max_tokens"] == first["max_tokens"]
    assert json.loads(row) == {"items": ["names [[repeat:ann]]"]}


def test_a_slow_answer_that_keeps_streaming_is_not_sent_again(
    home: Path, fake_server: FakeOpenAIServer
):
    """Each answer takes about 2 s, twice the timeout, but a word comes every 0.2 s: every row
    is answered, by exactly one call."""
    configure(home, fake_server)
    rows = 4
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        session.sql("SET lakeinfer.endpoints.slow.timeout_s = 1")
        session.registry.register(
            OpenAIProvider("slow", base_url=fake_server.base_url, model="m", stream=True)
        )
        answers = session.sql(
            "SELECT id, ai_query('slow', 'row ' || CAST(id AS STRING) || ' of the slow "
            "model [[slow-tokens:200]]') AS r FROM range(4) AS t(id) ORDER BY id"
        ).to_pylist()
        stats = session.last_stats.ai
    assert [a["r"] for a in answers] == [
        f"echo: row {i} of the slow model [[slow-tokens:200]]" for i in range(rows)
    ]
    assert (stats.requests, stats.calls, stats.retries, stats.timeouts) == (rows, rows, 0, 0)
    assert fake_server.stats()["chat"] == rows


def test_a_slow_answer_that_is_not_streamed_times_out(home: Path, fake_server: FakeOpenAIServer):
    """The same slow answer asked without streaming shows no progress: it times out (what
    streaming changes)."""
    configure(home, fake_server, slow={"max_retries": 0})
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        session.sql("SET lakeinfer.endpoints.slow.timeout_s = 1")
        row = session.sql(
            "SELECT ai_query('slow', 'one two three four five six seven [[slow-tokens:200]]', "
            "failOnError => false) AS r"
        ).to_pylist()[0]["r"]
    assert row["errorMessage"].startswith("timed out after 1s")


def test_task_answers_are_bounded_by_their_input(home: Path, fake_server: FakeOpenAIServer):
    """A task function's JSON answer gets a max_tokens from its schema and its input, below
    its own ceiling, growing with the input."""
    configure(home, fake_server, chat={})
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        session.sql("SET lakeinfer.task_endpoint = 'chat'")
        session.sql(
            "SELECT ai_mask('John Doe lives in New York', ARRAY('person')) AS a, "
            "ai_mask(repeat('John Doe lives in New York. ', 3), ARRAY('person')) AS b, "
            "ai_analyze_sentiment(repeat('Great! ', 200)) AS c"
        ).to_pylist()
    bounds = {
        (b["response_format"]["json_schema"]["name"], b["messages"][0]["content"].count("Doe")): b[
            "max_tokens"
        ]
        for b in fake_server.stats()["bodies"]
    }
    # a label answer is closed: bounded by its longest label, however long the text
    assert bounds[("sentiment", 0)] < 30
    assert bounds[("entities", 1)] < bounds[("entities", 3)] < 384


def test_the_bound_follows_schema_and_input():
    short, long = "John Doe lives in New York", "John Doe lives in New York. " * 20
    entities = {
        "type": "json_schema",
        "json_schema": {
            "schema": {
                "type": "object",
                "properties": {"entities": {"type": "array", "items": {"type": "string"}}},
            }
        },
    }
    assert 40 < answer_bound(entities, short) < answer_bound(entities, long) < 600
    labels = {
        "type": "json_schema",
        "json_schema": {
            "schema": {
                "type": "object",
                "properties": {
                    "labels": {
                        "type": "array",
                        "items": {"enum": ["travel", "sport"]},
                        "maxItems": 2,
                    }
                },
            }
        },
    }
    # closed: every part bounded by the schema, whatever the input
    assert answer_bound(labels, short) == answer_bound(labels, long) < 30
    assert answer_bound({"type": "json_object"}, short, floor=256) == 256


def test_a_request_queued_behind_a_busy_llama_server_is_not_sent_again(
    home: Path, fake_server: FakeOpenAIServer
):
    """A request waits 3 s for a slot, three times its timeout, with nothing of its own
    streamed; llama.cpp's /slots shows the server decoding meanwhile, so it is one call."""
    configure(home, fake_server)
    ask = "SELECT ai_query('{}', 'queued row [[queued:3000]]', failOnError => false) AS r"
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        session.sql("SET lakeinfer.timeout_s = 1")
        session.sql("SET lakeinfer.max_retries = 0")
        session.registry.register(
            LlamaServerProvider("llama", slots=1, base_url=fake_server.base_url, model="m")
        )
        session.registry.register(
            OpenAIProvider("plain", base_url=fake_server.base_url, model="m", stream=True)
        )
        queued = session.sql(ask.format("llama")).to_pylist()[0]["r"]
        calls = session.last_stats.ai.calls
        # the same wait at a server without /slots to look at is a timeout
        plain = session.sql(ask.format("plain")).to_pylist()[0]["r"]
    assert queued == {"result": "echo: queued row [[queued:3000]]", "errorMessage": None}
    assert calls == 1
    assert plain["errorMessage"] == "timed out after 1s (after 1 attempt)"


def test_a_configured_endpoint_streams_with_options_stream(
    home: Path, fake_server: FakeOpenAIServer
):
    """``options = {stream = true}`` in config.toml: the same slow answer that times out
    without streaming is answered, by one call."""
    configure(home, fake_server, slow={"max_retries": 0, "options": {"stream": True}})
    with lakeinfer.connect(home, progress=False, notice=lambda _: None) as session:
        session.sql("SET lakeinfer.cache = false")
        session.sql("SET lakeinfer.endpoints.slow.timeout_s = 1")
        row = session.sql(
            "SELECT ai_query('slow', 'one two three four five six seven [[slow-tokens:200]]') AS r"
        ).to_pylist()[0]["r"]
    assert row == "echo: one two three four five six seven [[slow-tokens:200]]"
    assert fake_server.stats()["chat"] == 1
