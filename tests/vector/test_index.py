"""Vector indexes: CREATE/SHOW/DROP VECTOR INDEX, vector_search ordered by similarity with the
embedded all-MiniLM-L6-v2, and the refresh when the table's Delta version changes."""

from __future__ import annotations

import pytest

from lakeinfer.errors import AnalysisError

pytest.importorskip("usearch")
pytest.importorskip("sentence_transformers")

SENTENCES = [
    "A cat is sleeping on the sofa.",
    "The stock market fell sharply today.",
    "Heavy rain is expected tomorrow in the north.",
    "The football team won the championship final.",
    "Add two eggs and a cup of flour to the bowl.",
]


def _docs(session) -> None:
    session.sql("CREATE TABLE docs (id INT, body STRING)")
    values = ", ".join(f"({i}, '{s}')" for i, s in enumerate(SENTENCES))
    session.sql(f"INSERT INTO docs VALUES {values}, (9, NULL)")


def _search(session, text: str, k: int = 5) -> list[dict]:
    return session.sql(
        f"SELECT id, body, search_score FROM vector_search(index => 'docs_idx', "
        f"query_text => '{text}', num_results => {k})"
    ).to_pylist()


def test_search_orders_by_similarity_and_refreshes_with_the_table(session):
    _docs(session)
    session.sql("CREATE VECTOR INDEX docs_idx ON docs (body)")
    (listed,) = session.sql("SHOW VECTOR INDEXES").to_pylist()
    assert listed["name"] == "main.default.docs_idx" and listed["rows"] == 5
    assert listed["dimensions"] == 384 and listed["version"] == 1

    rows = _search(session, "a kitten naps on the couch")
    assert rows[0]["id"] == 0
    scores = [r["search_score"] for r in rows]
    assert scores == sorted(scores, reverse=True) and len(rows) == 5
    assert scores[0] > 0.5 > scores[-1]
    assert [r["id"] for r in _search(session, "shares dropped on wall street", 2)][0] == 1

    # the table changes: the next search sees the new row without a manual refresh
    session.sql("INSERT INTO docs VALUES (5, 'The orchestra played a symphony by Mozart.')")
    rows = _search(session, "classical music concert", 1)
    assert [r["id"] for r in rows] == [5]
    (listed,) = session.sql("SHOW VECTOR INDEXES").to_pylist()
    assert listed["version"] == 2 and listed["rows"] == 6

    # joins and filters work on the result like on any table
    joined = session.sql(
        "SELECT d.id FROM vector_search(index => 'docs_idx', query_text => 'rain', "
        "num_results => 3) AS v JOIN docs AS d ON v.id = d.id WHERE v.search_score > 0.3"
    ).to_pylist()
    assert joined == [{"id": 2}]

    session.sql("DROP VECTOR INDEX docs_idx")
    assert session.sql("SHOW VECTOR INDEXES").to_pylist() == []


def test_query_vector_other_endpoint_and_errors(session, fake_server):
    _docs(session)
    session.sql("CREATE VECTOR INDEX docs_idx ON main.default.docs (body) USING emb")
    calls = fake_server.stats()["embeddings"]
    assert calls >= 1
    vector = session.sql(f"SELECT ai_embed('{SENTENCES[3]}', 'emb') AS v").to_pylist()[0]["v"]
    literal = "array(" + ", ".join(str(x) for x in vector) + ")"
    rows = session.sql(
        f"SELECT id, search_score FROM vector_search(index => 'docs_idx', "
        f"query_vector => {literal}, num_results => 1)"
    ).to_pylist()
    assert rows[0]["id"] == 3 and rows[0]["search_score"] == pytest.approx(1.0, abs=1e-5)
    # a rebuild embeds only texts it has not embedded before (ai_embed above hit the cache)
    session.sql("REFRESH VECTOR INDEX docs_idx")
    session.sql("INSERT INTO docs VALUES (7, 'brand new text')")
    session.sql("REFRESH VECTOR INDEX docs_idx")
    assert fake_server.stats()["embeddings"] == calls + 1
    with pytest.raises(AnalysisError, match="already exists"):
        session.sql("CREATE VECTOR INDEX docs_idx ON docs (body) USING emb")
    session.sql("CREATE VECTOR INDEX IF NOT EXISTS docs_idx ON docs (body) USING emb")
    with pytest.raises(AnalysisError, match="has no column 'nope'"):
        session.sql("CREATE VECTOR INDEX other ON docs (nope) USING emb")
    with pytest.raises(AnalysisError, match="does not serve embeddings"):
        session.sql("CREATE VECTOR INDEX other ON docs (body) USING chat")
    with pytest.raises(AnalysisError, match="has 8"):
        session.sql(
            "SELECT * FROM vector_search(index => 'docs_idx', query_vector => array(1.0, 2.0))"
        ).to_arrow()
    with pytest.raises(AnalysisError, match="only 'ANN'"):
        session.sql(
            "SELECT * FROM vector_search(index => 'docs_idx', query_text => 'x', "
            "query_type => 'HYBRID')"
        ).to_arrow()
    with pytest.raises(AnalysisError, match="exactly one of query_text, query_vector"):
        session.sql("SELECT * FROM vector_search(index => 'docs_idx')").to_arrow()
    with pytest.raises(AnalysisError, match="does not exist"):
        session.sql("SELECT * FROM vector_search(index => 'nope', query_text => 'x')").to_arrow()
