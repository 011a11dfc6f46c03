"""A tiny BERT token classifier (built from a config, no downloads) behind the real
transformers pipeline answers ai_query, with batched inputs."""

from __future__ import annotations

import pytest

import lakeinfer
from lakeinfer.config import LakeinferConfig, make_endpoint, save_config
from lakeinfer.endpoints.hf_pipeline import load_pipeline
from lakeinfer.errors import ConfigError, EndpointError
from tests.endpoints.tiny_models import LABELS, build_bert

TEXTS = ["alice lives in paris .", "bob works at acme", "the london acme"]
NER_TYPE = "ARRAY<STRUCT<entity: STRING, word: STRING, score: FLOAT>>"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "ner": build_bert(root / "ner", "token-classification", LABELS),
        "sentiment": build_bert(root / "sentiment", "text-classification", ["neg", "pos"]),
    }


@pytest.fixture
def session(home, models):
    save_config(
        home,
        LakeinferConfig(
            endpoints={
                "ner": make_endpoint(
                    provider="transformers", task="token-classification", model=str(models["ner"])
                ),
                "sentiment": make_endpoint(
                    provider="transformers",
                    task="text-classification",
                    model=str(models["sentiment"]),
                ),
            }
        ),
    )
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as s:
        s.sql("CREATE TABLE docs (id INT, text STRING)")
        values = ", ".join(f"({i}, '{t}')" for i, t in enumerate(TEXTS))
        s.sql(f"INSERT INTO docs VALUES {values}")
        yield s


def test_ner_answers_with_the_return_type_in_one_batch(session, models):
    table = session.sql(
        f"SELECT id, ai_query('ner', text, returnType => '{NER_TYPE}') AS entities "
        "FROM docs ORDER BY id"
    ).to_arrow()
    stats = session.last_stats
    direct = load_pipeline("token-classification", str(models["ner"]), None)(TEXTS)
    got = table.column("entities").to_pylist()
    assert len(got) == 3
    for answer, expected in zip(got, direct, strict=True):
        assert [(e["entity"], e["word"]) for e in answer] == [
            (e["entity"], e["word"]) for e in expected
        ]
        assert [e["score"] for e in answer] == pytest.approx(
            [float(e["score"]) for e in expected], abs=1e-5
        )
    assert any(answer for answer in got)  # the random tiny model does tag some words
    assert stats is not None and stats.ai.calls == 1 and stats.ai.requests == 3
    described = session.sql(
        f"CREATE TABLE ents AS SELECT ai_query('ner', text, returnType => '{NER_TYPE}') AS e "
        "FROM docs; DESCRIBE ents"
    ).to_pylist()
    assert described[0]["data_type"] == "ARRAY<STRUCT<entity: STRING, word: STRING, score: FLOAT>>"


def test_pipelines_have_a_default_return_type(session, models):
    row = session.sql(
        "SELECT ai_query('sentiment', text) AS s, ai_query('ner', text) AS e FROM docs WHERE id = 0"
    ).to_pylist()[0]
    direct = load_pipeline("text-classification", str(models["sentiment"]), None)(TEXTS[0])
    assert row["s"]["label"] == direct[0]["label"]
    assert row["s"]["score"] == pytest.approx(direct[0]["score"], abs=1e-5)
    assert set(row["e"][0]) == {"entity", "score", "index", "word", "start", "end"}


def test_an_answer_that_cannot_take_the_return_type_is_a_row_error(session):
    rows = session.sql(
        "SELECT ai_query('sentiment', text, returnType => 'ARRAY<DOUBLE>', "
        "failOnError => false) AS s FROM docs ORDER BY id"
    ).to_pylist()
    assert all(r["s"]["result"] is None for r in rows)
    assert "cannot cast the model's answer" in rows[0]["s"]["errorMessage"]
    assert "to ARRAY<DOUBLE>" in rows[0]["s"]["errorMessage"]
    with pytest.raises(EndpointError, match=r"'sentiment' failed \(row 1\): cannot cast"):
        session.sql(
            "SELECT ai_query('sentiment', text, returnType => 'ARRAY<DOUBLE>') FROM docs"
        ).to_arrow()


def test_a_non_text_request_is_a_row_error(session):
    row = session.sql(
        "SELECT ai_query('ner', named_struct('t', text), failOnError => false) AS e "
        "FROM docs WHERE id = 0"
    ).to_pylist()[0]
    assert row["e"]["result"] is None
    assert row["e"]["errorMessage"].startswith(
        "a token-classification request must be a STRING, got dict"
    )


def test_unknown_task_is_refused_with_the_tasks_that_exist(models):
    with pytest.raises(
        ConfigError,
        match="does not serve task 'chat'; use --task token-classification or text-classification",
    ):
        make_endpoint(provider="transformers", task="chat", model=str(models["ner"]))
    with pytest.raises(ConfigError, match="task: Input should be"):
        make_endpoint(provider="transformers", task="summarization", model=str(models["ner"]))


def test_a_directory_without_a_model_fails_naming_the_endpoint(home, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    endpoint = make_endpoint(provider="transformers", model=str(empty))
    save_config(home, LakeinferConfig(endpoints={"nothing": endpoint}))
    with lakeinfer.connect(home, notice=lambda m: None, progress=False) as session:
        with pytest.raises(
            lakeinfer.RuntimeUnavailableError,
            match=r"endpoint 'nothing': cannot load a token-classification pipeline from",
        ):
            session.sql("SELECT ai_query('nothing', 'alice')").to_arrow()
