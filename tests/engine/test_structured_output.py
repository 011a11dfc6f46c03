"""The check behind guaranteed structured output: answers against their response format."""

from __future__ import annotations

from lakeinfer.engine.structured_output import RETRY_NOTE, check_answer, retry_payload
from lakeinfer.sql.response_format import response_format

STARS = response_format("STRUCT<stars: INT, tags: ARRAY<STRING>>")
LABEL = {
    "type": "json_schema",
    "json_schema": {
        "name": "c",
        "schema": {
            "type": "object",
            "properties": {"label": {"type": "string", "enum": ["a", "b"]}},
            "required": ["label"],
            "additionalProperties": False,
        },
    },
}


def test_answers_that_fit_pass():
    assert check_answer(STARS, '{"stars": 4, "tags": ["x"]}') is None
    assert check_answer(LABEL, '{"label": "b"}') is None
    assert check_answer({"type": "json_object"}, '{"any": 1}') is None
    assert check_answer({"type": "text"}, "anything") is None
    assert check_answer(None, "anything") is None


def test_answers_that_do_not_fit_say_why_and_where():
    assert "not JSON" in check_answer(STARS, "four stars")
    assert check_answer(STARS, '{"stars": "four", "tags": []}') == (
        "the answer does not fit the schema at stars: 'four' is not of type 'integer'"
    )
    assert "'tags' is a required property" in check_answer(STARS, '{"stars": 4}')
    assert "'c' is not one of ['a', 'b']" in check_answer(LABEL, '{"label": "c"}')
    assert check_answer({"type": "json_object"}, "[1, 2]") == "the answer is not a JSON object"


def test_the_retry_prompt_carries_the_reason():
    assert retry_payload("Classify: x", "bad") == "Classify: x" + RETRY_NOTE.format(reason="bad")
    assert retry_payload([{"role": "user", "content": "x"}], "bad") is None
