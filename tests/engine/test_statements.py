"""The SQL surface around ai_query: namespaces, DDL, DML, SHOW, DESCRIBE, queries."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

import lakeinfer
from lakeinfer.errors import AnalysisError, SqlError, SqlSyntaxError, UnknownTableError


@pytest.fixture
def s(home):
    with lakeinfer.connect(home, progress=False) as session:
        yield session


def test_main_default_exists_and_tables_are_delta_on_disk(s, home):
    assert s.sql("SHOW CATALOGS").to_pylist() == [{"catalog": "main"}, {"catalog": "system"}]
    s.sql("CREATE TABLE t (id INT, name STRING)")
    s.sql("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    delta = DeltaTable(str(home / "main" / "default" / "t"))
    assert delta.to_pyarrow_table().to_pylist() == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert s.sql("SELECT * FROM main.default.t ORDER BY id").to_pylist()[0] == {
        "id": 1,
        "name": "a",
    }


def test_catalogs_schemas_and_use(s):
    s.sql("CREATE CATALOG IF NOT EXISTS sales; CREATE SCHEMA sales.emea; CREATE SCHEMA system.ai")
    s.sql("CREATE CATALOG IF NOT EXISTS sales")
    assert [r["catalog"] for r in s.sql("SHOW CATALOGS").to_pylist()] == ["main", "sales", "system"]
    assert s.sql("SHOW SCHEMAS IN sales").to_pylist() == [{"databaseName": "emea"}]
    s.sql("USE sales.emea")
    s.sql("CREATE TABLE orders (id INT)")
    s.sql("INSERT INTO orders VALUES (7)")
    assert s.sql("SHOW TABLES").to_pylist() == [
        {"database": "emea", "tableName": "orders", "isTemporary": False}
    ]
    assert s.sql("SELECT id FROM emea.orders").to_pylist() == [{"id": 7}]
    s.sql("USE CATALOG main")
    assert s.sql("SELECT id FROM sales.emea.orders").to_pylist() == [{"id": 7}]
    s.sql("CREATE TABLE system.ai.log AS SELECT 1 AS one")
    assert s.sql("SELECT one FROM system.ai.log").to_pylist() == [{"one": 1}]


def test_create_table_in_missing_schema_is_named(s):
    with pytest.raises(SqlError, match="schema not found: main.nope"):
        s.sql("CREATE TABLE nope.t (id INT)")


def test_describe_uses_databricks_type_names(s):
    s.sql(
        "CREATE TABLE t (a STRING, b ARRAY<FLOAT>, c STRUCT<x: INT, y: STRING>, d BIGINT, "
        "e TIMESTAMP, f DECIMAL(10,2), g MAP<STRING, DOUBLE>)"
    )
    assert [(r["col_name"], r["data_type"]) for r in s.sql("DESCRIBE TABLE t").to_pylist()] == [
        ("a", "STRING"),
        ("b", "ARRAY<FLOAT>"),
        ("c", "STRUCT<x: INT, y: STRING>"),
        ("d", "BIGINT"),
        ("e", "TIMESTAMP"),
        ("f", "DECIMAL(10,2)"),
        ("g", "MAP<STRING,DOUBLE>"),
    ]


def test_ctas_replace_and_if_not_exists(s, home):
    s.sql("CREATE TABLE t AS SELECT 1 AS x")
    with pytest.raises(SqlError, match="already exists"):
        s.sql("CREATE TABLE t AS SELECT 2 AS x")
    s.sql("CREATE TABLE IF NOT EXISTS t AS SELECT 3 AS x")
    assert s.sql("SELECT x FROM t").to_pylist() == [{"x": 1}]
    s.sql("CREATE OR REPLACE TABLE t AS SELECT 'a' AS y, 2 AS z")
    assert s.sql("SELECT * FROM t").to_pylist() == [{"y": "a", "z": 2}]
    history = DeltaTable(str(home / "main" / "default" / "t")).history()
    assert len(history) == 2  # one commit per write


def test_insert_by_position_by_name_and_select(s):
    s.sql("CREATE TABLE t (id INT, name STRING, score DOUBLE)")
    s.sql("INSERT INTO t VALUES (1, 'a', 0.5)")
    s.sql("INSERT INTO t (name, id) VALUES ('b', 2)")
    s.sql("INSERT INTO t SELECT id + 10, upper(name), score FROM t WHERE id = 1")
    assert s.sql("SELECT * FROM t ORDER BY id").to_pylist() == [
        {"id": 1, "name": "a", "score": 0.5},
        {"id": 2, "name": "b", "score": None},
        {"id": 11, "name": "A", "score": 0.5},
    ]


def test_insert_by_name_matches_columns_by_name_and_replace_where_is_refused(s, home):
    s.sql("CREATE TABLE t (id INT, name STRING, score DOUBLE)")
    s.sql("INSERT INTO t VALUES (1, 'a', 0.5)")
    s.sql("INSERT INTO t BY NAME SELECT 'b' AS name, 2 AS id")
    assert s.sql("SELECT * FROM t ORDER BY id").to_pylist() == [
        {"id": 1, "name": "a", "score": 0.5},
        {"id": 2, "name": "b", "score": None},
    ]
    with pytest.raises(AnalysisError, match="column 'nope' does not exist in main.default.t"):
        s.sql("INSERT INTO t BY NAME SELECT 3 AS id, 'x' AS nope")
    with pytest.raises(AnalysisError, match="REPLACE WHERE is not supported"):
        s.sql("INSERT INTO t REPLACE WHERE id = 1 SELECT 1, 'new', 1.0")
    assert DeltaTable(str(home / "main" / "default" / "t")).version() == 2


def test_column_not_null_and_comment_are_kept_and_other_constraints_refused(s, home):
    s.sql("CREATE TABLE t (id INT NOT NULL COMMENT 'the key', name STRING)")
    assert s.sql("DESCRIBE t").to_pylist() == [
        {"col_name": "id", "data_type": "INT", "comment": "the key"},
        {"col_name": "name", "data_type": "STRING", "comment": None},
    ]
    s.sql("INSERT INTO t VALUES (1, 'a')")
    for statement in (
        "INSERT INTO t VALUES (NULL, 'b')",
        "INSERT INTO t (name) VALUES ('b')",
        "UPDATE t SET id = NULL",
        "MERGE INTO t USING (SELECT 1 AS id) AS s ON t.id = s.id "
        "WHEN MATCHED THEN UPDATE SET id = NULL",
    ):
        with pytest.raises(AnalysisError, match="cannot write NULL into column 'id' of main"):
            s.sql(statement)
    assert DeltaTable(str(home / "main" / "default" / "t")).version() == 1
    s.sql("INSERT OVERWRITE t SELECT 2, 'b'")
    assert s.sql("DESCRIBE t").to_pylist()[0]["comment"] == "the key"
    for column, refused in (
        ("x STRING DEFAULT 'a'", "DEFAULT 'a'"),
        ("k BIGINT GENERATED ALWAYS AS IDENTITY", "GENERATED ALWAYS AS IDENTITY"),
    ):
        with pytest.raises(AnalysisError) as error:
            s.sql(f"CREATE TABLE u ({column})")
        assert f"{refused} is not supported (only NOT NULL and COMMENT)" in str(error.value)


def test_insert_with_wrong_shape_names_the_problem_and_writes_nothing(s, home):
    s.sql("CREATE TABLE t (id INT, name STRING)")
    with pytest.raises(AnalysisError, match="has 2 columns"):
        s.sql("INSERT INTO t VALUES (1, 'a', 'extra')")
    with pytest.raises(AnalysisError, match="column 'nope' does not exist"):
        s.sql("INSERT INTO t (nope) VALUES (1)")
    with pytest.raises(AnalysisError, match="column 'id'"):
        s.sql("INSERT INTO t VALUES ('not a number', 'a')")
    assert DeltaTable(str(home / "main" / "default" / "t")).version() == 0


def test_queries_with_ctes_joins_grouping_ordering(s):
    s.sql("CREATE TABLE orders (id INT, customer STRING, amount DOUBLE)")
    s.sql("CREATE TABLE customers (name STRING, country STRING)")
    s.sql("INSERT INTO orders VALUES (1, 'ann', 10), (2, 'bob', 5), (3, 'ann', 7)")
    s.sql("INSERT INTO customers VALUES ('ann', 'FR'), ('bob', 'JP')")
    rows = s.sql("""
        WITH totals AS (
          SELECT customer, sum(amount) AS total, count(*) AS n FROM orders GROUP BY customer
        )
        SELECT c.country, t.total, t.n
        FROM totals t JOIN customers AS c ON c.name = t.customer
        WHERE t.total > 1
        ORDER BY t.total DESC
        LIMIT 5
    """).to_pylist()
    assert rows == [
        {"country": "FR", "total": 17.0, "n": 2},
        {"country": "JP", "total": 5.0, "n": 1},
    ]


def test_databricks_concat_propagates_null(s):
    rows = s.sql("SELECT concat('a', NULL, 'b') AS x, concat('a', 'b') AS y").to_pylist()
    assert rows == [{"x": None, "y": "ab"}]


def test_unknown_table_is_named_with_close_matches(s):
    s.sql("CREATE TABLE reviews (id INT)")
    with pytest.raises(UnknownTableError) as error:
        s.sql("SELECT * FROM main.default.reveiws").to_arrow()
    assert "main.default.reveiws" in str(error.value)
    assert "did you mean 'main.default.reviews'" in str(error.value)


def test_syntax_error_names_position(s):
    with pytest.raises(SqlSyntaxError, match="line 1, column"):
        s.sql("SELECT * FORM t")


def test_select_is_lazy_and_kept(s, fake_server):
    from tests.conftest import configure

    configure(s.home, fake_server, chat={})
    with lakeinfer.connect(s.home, progress=False) as session:
        session.sql("CREATE TABLE t (k STRING)")
        session.sql("INSERT INTO t VALUES ('a')")
        result = session.sql("SELECT ai_query('chat', k) AS r FROM t")
        assert fake_server.stats()["chat"] == 0  # not run yet
        assert result.to_pylist() == [{"r": "echo: a"}]
        assert result.to_pandas()["r"].tolist() == ["echo: a"]
        assert fake_server.stats()["chat"] == 1  # evaluated once, kept


def test_drop_table_and_schema(s):
    s.sql("CREATE SCHEMA tmp; CREATE TABLE tmp.t (id INT)")
    with pytest.raises(SqlError, match="not empty"):
        s.sql("DROP SCHEMA tmp")
    s.sql("DROP TABLE tmp.t; DROP SCHEMA tmp; DROP TABLE IF EXISTS tmp2.t")
    assert "tmp" not in [r["databaseName"] for r in s.sql("SHOW SCHEMAS").to_pylist()]


def test_range_yields_an_id_column_as_in_databricks(s):
    assert s.sql("SELECT id FROM range(3)").to_pylist() == [{"id": 0}, {"id": 1}, {"id": 2}]
    assert s.sql("SELECT r.id FROM range(1, 6, 2) AS r").to_pylist() == [
        {"id": 1},
        {"id": 3},
        {"id": 5},
    ]


def test_positions_in_later_statements_count_lines_of_the_whole_text(s):
    s.sql("CREATE TABLE reviews AS SELECT 1 AS id, 'x' AS review_text")
    with pytest.raises(SqlError) as error:
        s.sql("SELECT 1;\nSELECT\n  2;\nSELECT id,\n  review_txt FROM reviews").to_pylist()
    assert "not found at line 5, column 3" in str(error.value)
    with pytest.raises(AnalysisError) as error:
        s.sql(
            "SELECT 1;\n\n  SELECT ai_query('e', id, returnType => 'STRNG') FROM reviews"
        ).to_pylist()
    assert str(error.value).startswith("ai_query at line 3, column 10: returnType: ")


def test_unknown_column_is_named_with_position_and_close_matches(s):
    s.sql("CREATE TABLE reviews AS SELECT 1 AS id, 'x' AS review_text")
    with pytest.raises(SqlError) as error:
        s.sql("SELECT id,\n       review_txt FROM reviews").to_pylist()
    assert str(error.value) == (
        "column 'review_txt' not found at line 2, column 8; did you mean 'review_text'?"
    )


def test_column_comments_are_stored_described_and_changed(s, home):
    s.sql("CREATE TABLE t (id INT COMMENT 'the id', name STRING)")
    metadata = [
        f.metadata for f in DeltaTable(str(home / "main" / "default" / "t")).schema().fields
    ]
    assert metadata == [{"comment": "the id"}, {}]  # Delta's field metadata, as Spark writes it
    assert [(r["col_name"], r["comment"]) for r in s.sql("DESCRIBE t").to_pylist()] == [
        ("id", "the id"),
        ("name", None),
    ]
    s.sql("ALTER TABLE t ALTER COLUMN name COMMENT 'who'")
    s.sql("COMMENT ON COLUMN t.id IS 'key'")
    s.sql("INSERT INTO t VALUES (1, 'a')")  # writes keep them
    extended = s.sql("DESCRIBE EXTENDED t").to_pylist()
    assert [(r["col_name"], r["comment"]) for r in extended[:2]] == [("id", "key"), ("name", "who")]
    s.sql("CREATE TABLE u (n INT COMMENT 'a number') AS SELECT 1")
    assert s.sql("DESCRIBE u").to_pylist()[0]["comment"] == "a number"
    with pytest.raises(AnalysisError, match="has no column 'nope'"):
        s.sql("ALTER TABLE t ALTER COLUMN nope COMMENT 'x'")


def test_describe_schema_lists_its_items_and_names_a_missing_one(s):
    s.sql("CREATE SCHEMA sales")
    for statement in ("DESCRIBE SCHEMA sales", "DESCRIBE DATABASE EXTENDED main.sales"):
        rows = {
            r["database_description_item"]: r["database_description_value"]
            for r in s.sql(statement).to_pylist()
        }
        assert rows["Catalog Name"] == "main" and rows["Namespace Name"] == "sales"
        assert rows["Location"].endswith("main/sales")
    with pytest.raises(SqlError, match="schema not found: main.sale"):
        s.sql("DESCRIBE SCHEMA sale")


def test_at_shorthand_and_stream_in_a_query_say_what_to_write_instead(s):
    s.sql("CREATE TABLE t AS SELECT 1 AS id")
    with pytest.raises(AnalysisError, match=r"t@v0: .* VERSION AS OF n"):
        s.sql("SELECT * FROM t@v0").to_pylist()
    with pytest.raises(AnalysisError, match=r"only in a streaming table's definition"):
        s.sql("SELECT * FROM STREAM(t)").to_pylist()
    assert s.sql("SELECT * FROM t VERSION AS OF 0").to_pylist() == [{"id": 1}]
