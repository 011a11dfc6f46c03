"""ai_filter in WHERE and JOIN ON, ai_embed, ai_agg's hierarchical reduction: end to end on
Delta tables against the counting fake server."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from lakeinfer.errors import AnalysisError, EndpointError
from tests.sql.test_response_format import _embedded_model_installed


def _table(session, name: str, columns: dict[str, list]) -> None:
    table = session.catalog.qualify([name], session.namespace)
    session.catalog.write(table, pa.table(columns), "append")


def _prompts(fake_server) -> list[str]:
    return [b["messages"][-1]["content"] for b in fake_server.stats()["bodies"]]


def test_ai_filter_in_where_calls_once_per_distinct_content(session, fake_server):
    texts = ["good [[answer:yes]]", "bad [[answer:no]]", "fine [[answer:Yes.]]", None]
    _table(
        session,
        "reviews",
        {"id": list(range(8)), "text": texts + texts},  # every text twice
    )
    rows = session.sql(
        "SELECT id FROM reviews WHERE ai_filter(text, 'is positive', 'chat') ORDER BY id"
    ).to_pylist()
    assert [r["id"] for r in rows] == [0, 2, 4, 6]
    stats = fake_server.stats()
    assert stats["chat"] == 3  # three distinct non-NULL texts; NULL makes no call
    body = stats["bodies"][0]
    assert body["response_format"]["json_schema"]["schema"]["properties"]["answer"]["enum"] == [
        "yes",
        "no",
    ]
    assert "Condition: is positive" in body["messages"][-1]["content"]


def test_ai_filter_in_join_on_calls_once_per_distinct_pair(session, fake_server):
    _table(session, "left_t", {"a": ["x [[answer:yes]]", "y [[answer:no]]"]})
    _table(session, "right_t", {"b": ["p", "q", "q"]})
    rows = session.sql(
        "SELECT a, b FROM left_t JOIN right_t ON ai_filter(a, 'matches ' || b, 'chat') "
        "ORDER BY a, b"
    ).to_pylist()
    assert rows == [
        {"a": "x [[answer:yes]]", "b": "p"},
        {"a": "x [[answer:yes]]", "b": "q"},
        {"a": "x [[answer:yes]]", "b": "q"},
    ]
    assert fake_server.stats()["chat"] == 4  # 2 contents x 2 distinct conditions


def test_ai_filter_in_select_is_boolean_and_null_for_null(session, fake_server):
    rows = session.sql(
        "SELECT ai_filter(t, 'c', 'chat') AS f FROM VALUES ('[[answer:no]]'), (NULL), "
        "('[[answer:yes]]') AS v(t)"
    )
    table = rows.to_arrow()
    assert table.schema.field("f").type == pa.bool_()
    assert table.column("f").to_pylist() == [False, None, True]


def test_ai_filter_errors_name_the_problem(session):
    with pytest.raises(AnalysisError, match="missing required argument 'condition'"):
        session.sql("SELECT ai_filter('x') AS f").to_arrow()
    with pytest.raises(AnalysisError, match="'emb' is not a chat endpoint"):
        session.sql("SELECT ai_filter('x', 'y', 'emb') AS f").to_arrow()


def test_ai_embed_gives_float_arrays_and_null_for_null(session, fake_server):
    table = session.sql(
        "SELECT ai_embed(t, 'emb') AS v FROM VALUES ('a'), (NULL), ('a') AS x(t)"
    ).to_arrow()
    assert table.schema.field("v").type == pa.list_(pa.float32())
    values = table.column("v").to_pylist()
    assert values[1] is None and values[0] == values[2] and len(values[0]) == 8
    assert fake_server.stats()["embeddings"] == 1
    with pytest.raises(AnalysisError, match="does not serve embeddings"):
        session.sql("SELECT ai_embed('x', 'chat') AS v").to_arrow()


def test_ai_agg_reduces_over_more_than_one_context_window(session, fake_server):
    session.sql("SET lakeinfer.agg_context_tokens = 150")
    rows = [f"review {i}: " + "the battery lasts long and the screen is bright " for i in range(24)]
    _table(
        session,
        "notes",
        {"g": ["a"] * 20 + ["b"] * 4, "text": rows},
    )
    result = session.sql(
        "SELECT g, ai_agg(text, 'Summarise the reviews', 'chat') AS summary FROM notes "
        "GROUP BY g ORDER BY g"
    ).to_pylist()
    assert [r["g"] for r in result] == ["a", "b"]
    prompts = _prompts(fake_server)
    # group a: 20 rows of ~60 characters do not fit 150 tokens (600 characters) at once
    first_level = [p for p in prompts if "review 0:" in p or "review 19:" in p]
    assert first_level and all("intermediate summary" in p for p in first_level)
    # a later level reads earlier answers (the fake server echoes its prompt)
    later = [p for p in prompts if "echo:" in p]
    assert later
    assert all(len(p) <= 150 * 4 for p in prompts)
    final_a = result[0]["summary"]
    assert final_a.startswith("echo: Summarise the reviews") and "echo:" in final_a[6:]
    # group b fits one prompt: one call, answered directly
    assert result[1]["summary"].startswith("echo: Summarise the reviews\n\nTexts:\n- review 20")
    assert sum("review 20" in p for p in prompts) == 1
    assert fake_server.stats()["chat"] == len(prompts) > 3


def test_ai_agg_ignores_nulls_and_needs_a_literal_instruction(session, fake_server):
    result = session.sql(
        "SELECT ai_agg(t, 'List them', 'chat') AS s FROM VALUES ('x'), (NULL) AS v(t)"
    ).to_pylist()
    assert result == [{"s": "echo: List them\n\nTexts:\n- x"}]
    assert fake_server.stats()["chat"] == 1
    with pytest.raises(AnalysisError, match="instruction must be a string literal"):
        session.sql("SELECT ai_agg(t, t, 'chat') AS s FROM VALUES ('x') AS v(t)").to_arrow()


def test_ai_filter_answers_are_cached_across_statements(session, fake_server):
    query = "SELECT ai_filter(t, 'c', 'chat') AS f FROM VALUES ('[[answer:yes]]') AS v(t)"
    assert session.sql(query).to_pylist() == [{"f": True}]
    assert session.sql(query).to_pylist() == [{"f": True}]
    assert fake_server.stats()["chat"] == 1
    assert json.loads(json.dumps(fake_server.stats()["answered"]))  # answered once, by the server


def test_explain_names_ai_agg_without_calling(session, fake_server):
    plan = session.sql(
        "EXPLAIN SELECT ai_agg(t, 'x', 'chat') FROM VALUES ('a') AS v(t)"
    ).to_pylist()
    assert "1 ai_agg call(s)" in plan[0]["plan"]
    assert fake_server.stats()["chat"] == 0


def test_ai_agg_model_failure_is_raised_naming_the_endpoint(session, fake_server):
    with pytest.raises(EndpointError, match="chat"):
        session.sql(
            "SELECT ai_agg(t, 'x', 'chat') AS s FROM VALUES ('[[status:500]]') AS v(t)"
        ).to_arrow()


@pytest.mark.skipif(not _embedded_model_installed(), reason="the embedded model is not installed")
def test_ai_filter_and_ai_agg_on_the_embedded_model(home):
    """One test, so the embedded model's server starts once."""
    import lakeinfer

    reviews = [
        "I love this phone, it is wonderful.",
        "Terrible service, I want my money back.",
        "It broke after one day.",
    ]
    notes = [f"Customer {i} says the kettle boils water fast but the lid sticks." for i in range(8)]
    with lakeinfer.connect(home, notice=lambda _: None, progress=False) as session:
        for name, texts in (("reviews", reviews), ("notes", notes)):
            table = session.catalog.qualify([name], session.namespace)
            session.catalog.write(table, pa.table({"text": texts}), "append")
        rows = session.sql(
            "SELECT text, ai_filter(text, 'the review is positive') AS positive FROM reviews"
        ).to_pylist()
        # constrained decoding: every answer parses to TRUE or FALSE, never NULL
        assert len(rows) == len(reviews)
        assert all(isinstance(r["positive"], bool) for r in rows)

        session.sql("SET lakeinfer.agg_context_tokens = 128")
        session.sql("SET lakeinfer.default_max_tokens = 40")  # the final answer's length
        (row,) = session.sql(
            "SELECT ai_agg(text, 'What do customers say about the kettle?') AS s FROM notes"
        ).to_pylist()
        stats = session.last_stats
    assert isinstance(row["s"], str) and row["s"].strip()
    # 8 rows do not fit one 128-token prompt: two partial summaries, then the answer
    assert stats is not None and stats.ai.requests == 3
