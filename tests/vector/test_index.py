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


def _queries(session) -> None:
    _docs(session)
    session.sql("CREATE VECTOR INDEX docs_idx ON docs (body) USING emb")
    session.sql("CREATE TABLE query_table (id INT, query_txt STRING)")
    session.sql(
        f"INSERT INTO query_table VALUES (1, '{SENTENCES[1]}'), (2, '{SENTENCES[3]}'), "
        f"(3, '{SENTENCES[1]}'), (4, NULL)"
    )


LATERAL = (
    "SELECT q.id AS qid, q.query_txt, s.* FROM query_table q, LATERAL (SELECT * FROM "
    "vector_search(index => 'main.default.docs_idx', {query} => q.query_txt, "
    "num_results => 2)) AS s"
)


def test_lateral_search_runs_each_outer_rows_query_with_one_embedding_call(session, fake_server):
    _queries(session)
    before = fake_server.stats()["embeddings"]
    rows = session.sql(LATERAL.format(query="query_text") + " ORDER BY qid, search_score DESC")
    rows = rows.to_pylist()
    # each outer row gets its own num_results neighbours, its own text first (score 1)
    assert [(r["qid"], r["id"]) for r in rows][::2] == [(1, 1), (2, 3), (3, 1)]
    assert [r["qid"] for r in rows] == [1, 1, 2, 2, 3, 3]
    for r in rows[::2]:
        assert r["body"] == r["query_txt"] and r["search_score"] == pytest.approx(1.0, abs=1e-5)
    assert rows[1]["id"] not in (1,) and rows[3]["id"] != 3
    # the texts were embedded when the index was built: answered from the cache
    assert fake_server.stats()["embeddings"] == before
    # the older argument name, a LEFT JOIN LATERAL and the call without a subquery
    assert session.sql(LATERAL.format(query="query") + " ORDER BY qid").to_arrow().num_rows == 6
    left = session.sql(
        "SELECT q.id, s.id AS hit FROM query_table q LEFT JOIN LATERAL (SELECT * FROM "
        "vector_search(index => 'docs_idx', query_text => q.query_txt, num_results => 1)) s "
        "ON TRUE ORDER BY q.id"
    ).to_pylist()
    assert left == [
        {"id": 1, "hit": 1},
        {"id": 2, "hit": 3},
        {"id": 3, "hit": 1},
        {"id": 4, "hit": None},
    ]
    bare = session.sql(
        "SELECT q.id, s.id AS hit FROM query_table q, LATERAL vector_search(index => "
        "'docs_idx', query_text => upper(q.query_txt), num_results => 1) AS s ORDER BY q.id"
    ).to_pylist()
    assert [r["id"] for r in bare] == [1, 2, 3]
    # the two distinct new texts are embedded in one request; NULL queries give no rows
    stats = fake_server.stats()
    assert stats["embeddings"] == before + 1
    assert stats["bodies"][-1]["input"] == sorted([SENTENCES[1].upper(), SENTENCES[3].upper()])
    # the outer WHERE's conditions on the tables before the LATERAL are applied first: rows it
    # drops are not searched (nor embedded)
    filtered = session.sql(
        "SELECT q.id, s.id AS hit FROM query_table q, LATERAL (SELECT * FROM vector_search("
        "index => 'docs_idx', query_text => lower(q.query_txt), num_results => 1)) s "
        "WHERE q.id = 2 AND s.search_score > -2"
    ).to_pylist()
    assert [r["id"] for r in filtered] == [2]
    stats = fake_server.stats()
    assert stats["embeddings"] == before + 2
    assert stats["bodies"][-1]["input"] == [SENTENCES[3].lower()]
    # a WITH query before the LATERAL, an empty outer table
    assert session.sql(
        "WITH few AS (SELECT * FROM query_table WHERE id = 2) SELECT f.id, s.id AS hit FROM "
        "few f, LATERAL (SELECT * FROM vector_search(index => 'docs_idx', query_text => "
        "f.query_txt, num_results => 1)) s"
    ).to_pylist() == [{"id": 2, "hit": 3}]
    assert (
        session.sql(
            "SELECT s.* FROM (SELECT * FROM query_table WHERE id > 9) q, LATERAL (SELECT * "
            "FROM vector_search(index => 'docs_idx', query_text => q.query_txt)) s"
        )
        .to_arrow()
        .num_rows
        == 0
    )


def test_ctas_over_lateral_search_has_the_index_columns_and_the_score(session):
    _queries(session)
    session.sql("CREATE TABLE found AS " + LATERAL.format(query="query_text"))
    described = {r["col_name"]: r["data_type"] for r in session.sql("DESCRIBE found").to_pylist()}
    session.sql(
        "CREATE TABLE one AS SELECT * FROM vector_search(index => 'docs_idx', "
        "query => 'rain', num_results => 2)"
    )
    one = {r["col_name"]: r["data_type"] for r in session.sql("DESCRIBE one").to_pylist()}
    assert one == {"id": "INT", "body": "STRING", "search_score": "DOUBLE"}
    assert described == {"qid": "INT", "query_txt": "STRING", **one}
    assert session.sql("SELECT count(*) AS n FROM found").to_pylist() == [{"n": 6}]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("vector_search('docs_idx', 'rain')", "arguments must be named"),
        ("vector_search(index => 'docs_idx', query_txt => 'rain')", "did you mean 'query_text'"),
        (
            "vector_search(index => 'docs_idx', query => 'a', query_text => 'b')",
            "'query_text' is given twice",
        ),
    ],
)
def test_vector_search_arguments_are_named(session, call, message):
    _docs(session)
    session.sql("CREATE VECTOR INDEX docs_idx ON docs (body) USING emb")
    with pytest.raises(AnalysisError, match=message) as error:
        session.sql(f"SELECT * FROM {call}").to_arrow()
    assert str(error.value).startswith("vector_search at line 1, column ")


def test_column_query_outside_lateral_is_a_clear_error(session):
    _queries(session)
    with pytest.raises(AnalysisError, match=r"refer to columns \(q.query_txt\).*LATERAL"):
        session.sql(
            "SELECT * FROM query_table q JOIN vector_search(index => 'docs_idx', "
            "query_text => q.query_txt) s ON TRUE"
        ).to_arrow()
