"""responseFormat: the three Databricks forms become OpenAI's ``response_format``; the request
carries it; the answer stays JSON text (a STRING) read with from_json and ``:`` paths."""

from __future__ import annotations

import json

import pytest

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.response_format import response_format

SUMMARY_SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "sentiment": {"type": "string"}},
    "required": ["summary", "sentiment"],
    "additionalProperties": False,
}


def test_json_object_and_text_are_sent_as_they_are():
    assert response_format('{"type": "json_object"}') == {"type": "json_object"}
    assert response_format('{"type":"text"}') == {"type": "text"}


def test_json_schema_envelope_is_sent_as_it_is():
    envelope = {"type": "json_schema", "json_schema": {"name": "r", "schema": SUMMARY_SCHEMA}}
    assert response_format(json.dumps(envelope)) == envelope


def test_ddl_struct_becomes_a_strict_json_schema_envelope():
    assert response_format("STRUCT<summary: STRING, sentiment: STRING>") == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": SUMMARY_SCHEMA, "strict": True},
    }


def test_ddl_struct_with_one_struct_field_is_unwrapped_and_names_the_schema():
    fmt = response_format(
        "STRUCT<research_paper_extraction: STRUCT<title: STRING, authors: ARRAY<STRING>, "
        "year: INT, score: DOUBLE, open: BOOLEAN, tags: MAP<STRING, BIGINT>>>"
    )
    assert fmt["json_schema"]["name"] == "research_paper_extraction"
    assert fmt["json_schema"]["schema"] == {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "authors": {"type": "array", "items": {"type": "string"}},
            "year": {"type": "integer"},
            "score": {"type": "number"},
            "open": {"type": "boolean"},
            "tags": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        "required": ["title", "authors", "year", "score", "open", "tags"],
        "additionalProperties": False,
    }


def test_ddl_struct_with_one_plain_field_describes_the_object_itself():
    fmt = response_format("STRUCT<answer: STRING>")
    assert fmt["json_schema"]["name"] == "response"
    assert fmt["json_schema"]["schema"]["properties"] == {"answer": {"type": "string"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (json.dumps(SUMMARY_SCHEMA), "bare JSON schema (AI_FUNCTION_UNSUPPORTED_RESPONSE_FORMAT)"),
        ('{"type": "xml"}', "unsupported type 'xml'"),
        ('{"type": "json_schema", "schema": {}}', 'needs "json_schema"'),
        ('{"type": ', "not valid JSON (position 10"),
        ("STRUCT<a: STRNG>", "unknown type 'STRNG' at position 11"),
        ("ARRAY<STRING>", "must be a STRUCT"),
        ("  ", "is empty"),
    ],
)
def test_bad_response_formats_name_the_argument(text, message):
    with pytest.raises(AnalysisError) as error:
        response_format(text, " at line 1, column 8")
    assert "ai_query at line 1, column 8: responseFormat" in str(error.value)
    assert message in str(error.value)


def test_request_carries_the_response_format_and_the_answer_is_json_text(session, fake_server):
    session.sql("CREATE TABLE reviews (id INT, text STRING)")
    session.sql("INSERT INTO reviews VALUES (1, 'Great kettle'), (2, 'Broke in a week')")
    rows = session.sql(
        "SELECT id, ai_query('chat', text, "
        "responseFormat => 'STRUCT<summary: STRING, sentiment: STRING>') AS r "
        "FROM reviews ORDER BY id"
    )
    assert rows.to_arrow().schema.field("r").type == "string"
    assert [json.loads(r["r"]) for r in rows.to_pylist()] == [
        {"summary": "Great kettle", "sentiment": "Great kettle"},
        {"summary": "Broke in a week", "sentiment": "Broke in a week"},
    ]
    bodies = fake_server.stats()["bodies"]
    assert [b["response_format"] for b in bodies] == [
        {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": SUMMARY_SCHEMA, "strict": True},
        }
    ] * 2


def test_answers_are_read_with_from_json_and_paths_also_under_fail_on_error_false(
    session, fake_server
):
    session.sql("CREATE TABLE t (text STRING)")
    session.sql("INSERT INTO t VALUES ('ok')")
    rows = session.sql(
        "SELECT from_json(r.result, 'STRUCT<stars: INT, label: STRING>') AS parsed, "
        "r.result:stars::int AS stars, r.result:LABEL AS label FROM ("
        "SELECT ai_query('chat', text, failOnError => false, "
        "responseFormat => 'STRUCT<review: STRUCT<stars: INT, label: STRING>>') AS r FROM t)"
    ).to_pylist()
    assert rows == [{"parsed": {"stars": 1, "label": "ok"}, "stars": 1, "label": "ok"}]
    (body,) = fake_server.stats()["bodies"]
    assert body["response_format"]["json_schema"]["name"] == "review"


def test_json_object_format_reaches_the_endpoint(session, fake_server):
    session.sql("CREATE TABLE t (text STRING)")
    session.sql("INSERT INTO t VALUES ('hi')")
    rows = session.sql(
        "SELECT ai_query('chat', text, responseFormat => '{\"type\": \"json_object\"}'):echo AS e "
        "FROM t"
    ).to_pylist()
    assert rows == [{"e": "hi"}]
    assert fake_server.stats()["bodies"][0]["response_format"] == {"type": "json_object"}


def test_bare_schema_is_rejected_before_any_call(session, fake_server):
    session.sql("CREATE TABLE t (text STRING)")
    session.sql("INSERT INTO t VALUES ('hi')")
    with pytest.raises(AnalysisError, match="bare JSON schema"):
        session.sql(
            f"SELECT ai_query('chat', text, responseFormat => '{json.dumps(SUMMARY_SCHEMA)}') "
            "FROM t"
        ).to_arrow()
    assert fake_server.stats()["chat"] == 0


def _embedded_model_installed() -> bool:
    from lakeinfer.endpoints.llama_server import default_model_path, server_binary
    from lakeinfer.errors import RuntimeUnavailableError

    try:
        default_model_path()
        server_binary()
    except RuntimeUnavailableError:
        return False
    return True


@pytest.mark.skipif(not _embedded_model_installed(), reason="the embedded model is not installed")
def test_embedded_model_answers_parse_under_a_ddl_response_format(home):
    import lakeinfer

    with lakeinfer.connect(home, notice=lambda _: None, progress=False) as session:
        session.sql("CREATE TABLE reviews (text STRING)")
        session.sql(
            "INSERT INTO reviews VALUES ('Great kettle, boils fast.'), ('Broke in a week.')"
        )
        rows = session.sql(
            "SELECT r, from_json(r, 'summary STRING, sentiment STRING') AS parsed FROM ("
            "SELECT ai_query('databricks-meta-llama-3-1-8b-instruct', "
            "'Summarize and give the sentiment of: ' || text, "
            "modelParameters => named_struct('max_tokens', 100), "
            "responseFormat => 'STRUCT<review: STRUCT<summary: STRING, sentiment: STRING>>') "
            "AS r FROM reviews)"
        ).to_pylist()
    assert len(rows) == 2
    for row in rows:
        assert set(json.loads(row["r"])) == {"summary", "sentiment"}  # grammar-constrained
        assert all(isinstance(v, str) for v in row["parsed"].values())
