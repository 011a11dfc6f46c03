"""Task functions end to end on the fake OpenAI-compatible server (which answers JSON that fits
the requested response format, enum values included) and on scripted Python chat endpoints:
result types, NULL handling, constrained answers over many rows, the endpoint settings, and the
one retry of an answer that does not fit."""

from __future__ import annotations

import json

import pytest

from lakeinfer.errors import AnalysisError, EndpointError

LABELS = ("urgent", "not urgent", "spam")


@pytest.fixture
def tasks(session):
    session.sql("SET lakeinfer.task_endpoint = 'chat'")
    session.sql("SET lakeinfer.embedding_endpoint = 'emb'")
    return session


def values(sql_rows: list[str]) -> str:
    return ", ".join(f"({r})" for r in sql_rows)


def test_null_in_gives_null_out_without_a_call(tasks, fake_server):
    rows = tasks.sql(
        "SELECT ai_analyze_sentiment(t) AS a, ai_classify(t, ARRAY('x', 'y')) AS b, "
        "ai_extract(t, ARRAY('person')) AS c, ai_fix_grammar(t) AS d, ai_gen(t) AS e, "
        "ai_mask(t, ARRAY('email')) AS f, ai_similarity(t, 'x') AS g, ai_summarize(t) AS h, "
        "ai_translate(t, 'fr') AS i, ai_classify(t, '[\"x\", \"y\"]') AS j, "
        "ai_extract(t, '[\"person\"]') AS k FROM VALUES (CAST(NULL AS STRING)) AS v(t)"
    ).to_pylist()
    assert rows == [dict.fromkeys("abcdefghijk")]
    stats = fake_server.stats()
    assert stats["chat"] == 0 and stats["embeddings"] == 0


def test_result_types_match_databricks(tasks):
    schema = (
        tasks.sql(
            "SELECT ai_analyze_sentiment(t) AS a, ai_extract(t, ARRAY('person', 'city')) AS b, "
            "ai_similarity(t, t) AS c, ai_classify(t, '[\"x\", \"y\"]') AS d FROM VALUES ('a') AS v(t)"
        )
        .to_arrow()
        .schema
    )
    assert str(schema.field("a").type) == "string"
    assert str(schema.field("b").type) == "struct<person: string, city: string>"
    assert str(schema.field("c").type) == "float"
    assert str(schema.field("d").type) == "string"


def test_label_answers_are_always_one_of_the_labels_over_many_rows(tasks, fake_server):
    texts = [f"'ticket number {i}'" for i in range(200)]
    rows = tasks.sql(
        f"SELECT ai_classify(t, ARRAY{LABELS}) AS label, ai_analyze_sentiment(t) AS mood "
        f"FROM VALUES {values(texts)} AS v(t)"
    ).to_pylist()
    assert len(rows) == 200
    assert {r["label"] for r in rows} == set(LABELS)  # all valid, and all of them used
    assert {r["mood"] for r in rows} <= {"positive", "negative", "neutral", "mixed"}
    body = fake_server.stats()["bodies"][0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["temperature"] == 0.0


def test_classify_v2_returns_response_json_read_with_paths(tasks):
    texts = [f"'order {i}'" for i in range(60)]
    rows = tasks.sql(
        "SELECT r, r:response[0] AS first, r:error_message AS err FROM (SELECT "
        'ai_classify(t, \'{"billing": "money", "shipping": "parcels", "other": ""}\', '
        f"MAP('version', '2.0', 'multilabel', 'true')) AS r FROM VALUES {values(texts)} AS v(t))"
    ).to_pylist()
    for row in rows:
        parsed = json.loads(row["r"])
        assert set(parsed) == {"response", "error_message"} and parsed["error_message"] is None
        assert parsed["response"] and set(parsed["response"]) <= {"billing", "shipping", "other"}
        assert row["first"] == parsed["response"][0] and row["err"] is None


def test_extract_v1_struct_and_v2_json_are_always_valid(tasks):
    texts = [f"'Person {i} from town {i}'" for i in range(40)]
    rows = tasks.sql(
        "SELECT ai_extract(t, ARRAY('person', 'city')) AS s, "
        'ai_extract(t, \'{"name": {"type": "string"}, "age": {"type": "integer"}, '
        '"tier": {"type": "enum", "labels": ["gold", "silver"]}}\') AS j '
        f"FROM VALUES {values(texts)} AS v(t)"
    ).to_pylist()
    for row in rows:
        assert set(row["s"]) == {"person", "city"}
        answer = json.loads(row["j"])["response"]
        assert isinstance(answer["age"], int) and answer["tier"] in ("gold", "silver")
    age = tasks.sql(
        "SELECT ai_extract(t, '[\"name\"]'):response.name AS n FROM VALUES ('Ann') AS v(t)"
    ).to_pylist()
    assert age[0]["n"] and isinstance(age[0]["n"], str)


def test_similarity_is_the_cosine_of_the_embeddings_and_1_for_identical_text(tasks):
    from lakeinfer.testing.fake_openai import embedding_for

    rows = tasks.sql(
        "SELECT ai_similarity(a, b) AS s FROM VALUES ('Apache Spark', 'Apache Spark'), "
        "('cat', 'dog'), ('cat', NULL) AS v(a, b)"
    ).to_pylist()
    a, b = embedding_for("cat"), embedding_for("dog")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    cosine = dot / (sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5)
    assert rows[0]["s"] == 1.0
    assert rows[1]["s"] == pytest.approx(cosine, rel=1e-6)
    assert rows[2]["s"] is None


def test_translate_checks_languages_per_row_for_columns(tasks):
    with pytest.raises(EndpointError, match="ai_translate: to_lang 'xx' is not supported"):
        tasks.sql(
            "SELECT ai_translate(t, l) FROM VALUES ('hi', 'de'), ('yo', 'xx') AS v(t, l)"
        ).to_pylist()
    rows = tasks.sql(
        "SELECT ai_translate(t, l) AS x FROM VALUES ('hi', 'DE'), ('yo', NULL), "
        "('hola', 'pt-BR'), ('ciao', 'Spanish') AS v(t, l)"
    ).to_pylist()
    assert rows[0]["x"].startswith("echo: Translate the text below to German.")
    assert rows[1]["x"] is None
    assert rows[2]["x"].startswith("echo: Translate the text below to Portuguese (Brazil).")
    assert rows[3]["x"].startswith("echo: Translate the text below to Spanish.")


def test_task_endpoint_setting_and_its_kind_are_checked(tasks, fake_server):
    tasks.sql("SET lakeinfer.task_endpoint = 'emb'")
    with pytest.raises(AnalysisError, match="lakeinfer.task_endpoint = 'emb' is a embeddings"):
        tasks.sql("SELECT ai_summarize('some text')").to_pylist()
    tasks.sql("SET lakeinfer.task_endpoint = 'chat'")
    got = tasks.sql("SELECT ai_summarize('one two three', 2) AS s").to_pylist()
    assert got == [{"s": "echo: Summarize"}]  # cut to max_words
    default = tasks.sql("SET lakeinfer.embedding_endpoint").to_pylist()
    assert default[0]["value"] == "emb"
    tasks.sql("RESET lakeinfer.task_endpoint")
    assert tasks.sql("SET lakeinfer.task_endpoint").to_pylist()[0]["value"] == (
        "databricks-meta-llama-3-3-70b-instruct"
    )


def test_an_answer_that_does_not_fit_is_retried_once_then_is_the_rows_error(tasks):
    prompts: list[str] = []

    def flaky(prompt: str) -> str:
        prompts.append(prompt)
        if "not valid" in prompt and "fixable" in prompt:
            return '{"label": "spam"}'
        return "I think it is probably fine"

    tasks.register_function("flaky", flaky, task="chat")
    tasks.sql("SET lakeinfer.task_endpoint = 'flaky'")
    got = tasks.sql(f"SELECT ai_classify('fixable', ARRAY{LABELS}) AS c").to_pylist()
    assert got == [{"c": "spam"}] and len(prompts) == 2
    assert "Your previous answer was not valid" in prompts[1]
    prompts.clear()
    with pytest.raises(
        EndpointError, match="ai_classify: the answer does not fit .* after a retry"
    ):
        tasks.sql(f"SELECT ai_classify('hopeless', ARRAY{LABELS}) AS c").to_pylist()
    assert len(prompts) == 2
    # v2 functions keep going: the error is the row's error_message
    got = tasks.sql("SELECT ai_classify('hopeless', '[\"a\", \"b\"]') AS c").to_pylist()
    parsed = json.loads(got[0]["c"])
    assert parsed["response"] is None and "after a retry" in parsed["error_message"]


def test_free_text_labels_are_accepted_when_they_name_a_label(tasks):
    tasks.register_function("plain", lambda p: "Negative.", task="chat")
    tasks.sql("SET lakeinfer.task_endpoint = 'plain'")
    assert tasks.sql("SELECT ai_analyze_sentiment('meh') AS s").to_pylist() == [{"s": "negative"}]


def test_ai_query_response_format_answers_are_validated_and_retried(session):
    calls: list[str] = []

    def answer(prompt: str) -> str:
        calls.append(prompt)
        return '{"stars": 4}' if len(calls) > 1 else '{"stars": "four"}'

    session.register_function("stars", answer, task="chat")
    got = session.sql(
        "SELECT ai_query('stars', 'rate it', responseFormat => 'STRUCT<stars: INT>') AS r"
    ).to_pylist()
    assert got == [{"r": '{"stars": 4}'}] and len(calls) == 2
    calls.clear()
    session.register_function("never", lambda p: "no json here", task="chat")
    got = session.sql(
        "SELECT ai_query('never', 'x', failOnError => false, "
        'responseFormat => \'{"type": "json_object"}\') AS r'
    ).to_pylist()
    assert got[0]["r"]["result"] is None
    assert (
        "not JSON" in got[0]["r"]["errorMessage"] and "after a retry" in got[0]["r"]["errorMessage"]
    )


def test_task_functions_in_where_and_nested_in_other_expressions(tasks):
    rows = tasks.sql(
        "SELECT t, upper(ai_classify(t, ARRAY('a', 'b'))) AS c FROM VALUES ('x'), ('y') AS v(t) "
        "WHERE ai_classify(t, ARRAY('a', 'b')) IN ('a', 'b') ORDER BY t"
    ).to_pylist()
    assert [r["t"] for r in rows] == ["x", "y"] and {r["c"] for r in rows} <= {"A", "B"}


def test_mask_replaces_what_the_model_names_and_known_patterns(tasks):
    tasks.register_function(
        "ner", lambda p: '{"entities": ["John Doe", "not in text"]}', task="chat"
    )
    tasks.sql("SET lakeinfer.task_endpoint = 'ner'")
    got = tasks.sql(
        "SELECT ai_mask('John Doe lives in New York. His email is john.doe@example.com.', "
        "array('person', 'email')) AS m"
    ).to_pylist()
    assert got == [{"m": "[MASKED] lives in New York. His email is [MASKED]."}]


def test_explain_names_the_task_endpoint_without_calling(tasks, fake_server):
    plan = [
        r["plan"]
        for r in tasks.sql(
            "EXPLAIN SELECT ai_summarize(t), ai_similarity(t, 'x') FROM VALUES ('a'), ('b') AS v(t)"
        ).to_pylist()
    ]
    assert any("endpoint='chat': 2 rows, 2 distinct requests" in line for line in plan)
    assert any("endpoint='emb'" in line for line in plan)
    assert fake_server.stats()["chat"] == 0


def test_http_endpoints_get_databricks_style_json_requests_not_scored_completions(
    tasks, fake_server
):
    # scored completions (label log-probabilities, span grammars) are for endpoints with that
    # capability (the embedded llama.cpp model); an OpenAI-compatible endpoint keeps the
    # instruction prompt and the JSON response format
    assert not tasks.registry.scores_completions("chat")
    tasks.sql(
        "SELECT ai_analyze_sentiment(t) AS a, ai_classify(t, ARRAY('x', 'y')) AS b, "
        "ai_extract(t, ARRAY('person')) AS c, ai_mask(t, ARRAY('person')) AS d "
        "FROM VALUES ('Ann Lee was happy.') AS v(t)"
    ).to_pylist()
    bodies = fake_server.stats()["bodies"]
    assert len(bodies) == 4
    for body in bodies:
        assert "prompt" not in body and "grammar" not in body
        assert body["messages"][0]["content"].endswith("Text:\nAnn Lee was happy.")
        assert body["response_format"]["type"] == "json_schema"
