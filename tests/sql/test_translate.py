"""Databricks functions through Session.sql, with Databricks (Spark) semantics."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from lakeinfer.errors import AnalysisError, SqlError
from lakeinfer.sql.parse import parse_statements
from lakeinfer.sql.translate import DIVIDE_BY_ZERO, spark_name


@pytest.fixture
def docs(session):
    """A table of JSON documents, some broken, one NULL."""
    session.sql("CREATE TABLE docs (id INT, j STRING, tags ARRAY<STRING>)")
    session.sql(
        "INSERT INTO docs VALUES "
        """(1, '{"name": "Ada", "Age": 36, "langs": ["en", "fr"], "addr": {"city": "Paris"}}', """
        "array('a', 'b')), "
        """(2, '{"name": "Bob", "Age": "old", "langs": [], "addr": null}', array()), """
        "(3, 'not json', NULL), "
        "(4, NULL, array('c'))"
    )
    return session


def rows(session, sql: str) -> list[dict]:
    return session.sql(sql).to_pylist()


def column_type(session, sql: str) -> pa.DataType:
    return session.sql(sql).to_arrow().schema.field(0).type


def test_concat_propagates_null_and_concatenates_arrays(docs):
    assert rows(docs, "SELECT id, concat('#', CAST(id AS STRING), j) AS c FROM docs ORDER BY id")[
        2:
    ] == [{"id": 3, "c": "#3not json"}, {"id": 4, "c": None}]
    assert rows(docs, "SELECT concat(array(1), array(2, 3)) AS c") == [{"c": [1, 2, 3]}]


def test_named_struct_builds_a_struct_from_columns(docs):
    result = docs.sql(
        "SELECT named_struct('id', id, 'first', tags[0]) AS s FROM docs WHERE id = 1"
    ).to_arrow()
    assert result.to_pylist() == [{"s": {"id": 1, "first": "a"}}]
    assert result.schema.field("s").type == pa.struct([("id", pa.int32()), ("first", pa.string())])


def test_from_json_reads_permissively_field_by_field(docs):
    result = docs.sql(
        "SELECT id, from_json(j, 'name STRING, Age INT, langs ARRAY<STRING>, "
        "addr STRUCT<city: STRING>') AS p FROM docs ORDER BY id"
    )
    assert result.to_pylist() == [
        {
            "id": 1,
            "p": {"name": "Ada", "Age": 36, "langs": ["en", "fr"], "addr": {"city": "Paris"}},
        },
        # "old" is no INT: that field alone is NULL
        {"id": 2, "p": {"name": "Bob", "Age": None, "langs": [], "addr": None}},
        # malformed JSON: every field NULL (PERMISSIVE)
        {"id": 3, "p": {"name": None, "Age": None, "langs": None, "addr": None}},
        {"id": 4, "p": None},
    ]
    assert result.to_arrow().schema.field("p").type.field("Age").type == pa.int32()


def test_from_json_spark_rules_for_kinds_and_field_names(session):
    got = rows(
        session,
        """SELECT from_json('{"a": 1.5, "b": 7, "c": {"x": [1, 2.50]}, "ok": true, "big": """
        """99999999999}', 'a INT, b STRING, c STRING, ok BOOLEAN, big INT, d DOUBLE') AS v""",
    )
    # 1.5 is no INT, 99999999999 overflows one, a number read as STRING keeps its text
    assert got == [
        {"v": {"a": None, "b": "7", "c": '{"x":[1,2.5]}', "ok": True, "big": None, "d": None}}
    ]


def test_from_json_array_schema_and_a_lone_object(session):
    assert rows(
        session,
        """SELECT from_json('[{"k": "x"}, {"k": "y"}]', 'ARRAY<STRUCT<k: STRING>>') AS a, """
        """from_json('{"k": "z"}', 'ARRAY<STRUCT<k: STRING>>') AS b, """
        """from_json('oops', 'ARRAY<INT>') AS c, from_json('{"m": 1}', 'MAP<STRING, INT>') AS d""",
    ) == [{"a": [{"k": "x"}, {"k": "y"}], "b": [{"k": "z"}], "c": None, "d": [("m", 1)]}]


def test_from_json_with_schema_of_json(session):
    assert rows(
        session,
        """SELECT from_json('{"b": [1, 2], "a": "x"}', schema_of_json('{"a": "s", "b": [0]}')) AS v""",
    ) == [{"v": {"a": "x", "b": [1, 2]}}]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT from_json(j,\n  'STRUCT<a: INT, b: STRNG>') FROM docs",
            "from_json at line 1, column 8: schema (argument 2): invalid type "
            "'STRUCT<a: INT, b: STRNG>': unknown type 'STRNG' at position 19; did you mean STRING?",
        ),
        ("SELECT from_json(j, 'a INT,') FROM docs", "unexpected end at position 7"),
        ("SELECT from_json(j, j) FROM docs", "schema (argument 2) must be a string literal"),
        (
            "SELECT from_json(j, 'a INT', map('mode', 'FAILFAST')) FROM docs",
            "options (argument 3) are not supported",
        ),
        ("SELECT schema_of_json(j) FROM docs", "json (argument 1) must be a string literal"),
        ("SELECT schema_of_json('{\"a\": }')", "malformed JSON at position 7"),
    ],
)
def test_bad_schemas_name_the_argument_and_position(docs, sql, message):
    with pytest.raises(AnalysisError) as error:
        docs.sql(sql).to_arrow()
    assert message in str(error.value)


def test_to_json_leaves_out_null_fields_like_spark(docs):
    assert rows(
        docs,
        "SELECT to_json(named_struct('id', id, 'tags', tags, 'none', CAST(NULL AS STRING))) AS j "
        "FROM docs WHERE id IN (3, 4) ORDER BY id",
    ) == [{"j": '{"id":3}'}, {"j": '{"id":4,"tags":["c"]}'}]
    assert rows(docs, "SELECT to_json(array(1, NULL)) AS j") == [{"j": "[1,null]"}]
    assert rows(
        docs, "SELECT from_json(to_json(named_struct('a', 1, 'b', 'x')), 'a INT, b STRING') AS r"
    ) == [{"r": {"a": 1, "b": "x"}}]


def test_schema_of_json_prints_spark_ddl(session):
    assert rows(
        session,
        """SELECT schema_of_json('{"b": 1, "a": [1, 2.5], "c": null, "d": [], """
        """"e": {"y": true, "x": "s"}, "f": [1, "x"], "g h": 1}') AS s""",
    ) == [
        {
            "s": "STRUCT<a: ARRAY<DOUBLE>, b: BIGINT, c: STRING, d: ARRAY<STRING>, "
            "e: STRUCT<x: STRING, y: BOOLEAN>, f: ARRAY<STRING>, `g h`: BIGINT>"
        }
    ]


def test_colon_paths_return_strings(docs):
    result = docs.sql(
        "SELECT id, j:name AS name, j:addr.city AS city, j:langs[1] AS lang, "
        "j:['Age'] AS age, j:age AS age_ci, j:langs AS langs, j:langs[*] AS every "
        "FROM docs ORDER BY id"
    )
    assert result.to_pylist() == [
        {
            "id": 1,
            "name": "Ada",
            "city": "Paris",
            "lang": "fr",
            "age": "36",
            "age_ci": "36",
            "langs": '["en","fr"]',
            "every": '["en","fr"]',
        },
        {
            "id": 2,
            "name": "Bob",
            "city": None,  # "addr": null
            "lang": None,
            "age": "old",
            "age_ci": "old",
            "langs": "[]",
            "every": None,
        },
        dict.fromkeys(["id", "name", "city", "lang", "age", "age_ci", "langs", "every"])
        | {"id": 3},
        dict.fromkeys(["id", "name", "city", "lang", "age", "age_ci", "langs", "every"])
        | {"id": 4},
    ]
    assert all(t == pa.string() for t in result.to_arrow().schema.types[1:])


def test_bracketed_fields_are_case_sensitive_and_casts_apply(docs):
    assert rows(
        docs, "SELECT j:['age'] AS exact, try_cast(j:Age AS INT) AS maybe FROM docs ORDER BY id"
    )[:2] == [{"exact": None, "maybe": 36}, {"exact": None, "maybe": None}]
    assert rows(docs, "SELECT j:Age::int + 1 AS next FROM docs WHERE id = 1") == [{"next": 37}]
    with pytest.raises(SqlError, match="'old'"):  # as Databricks' ANSI cast does
        docs.sql("SELECT j:Age::int AS age FROM docs").to_arrow()


def test_ambiguous_identifier_is_an_error(session):
    with pytest.raises(SqlError, match="JSON path field 'a' is ambiguous"):
        session.sql("""SELECT '{"a": 1, "A": 2}':a AS x""").to_arrow()
    assert rows(session, """SELECT '{"a": 1, "A": 2}':['A'] AS x""") == [{"x": "2"}]


def test_get_json_object_is_case_sensitive_and_null_on_bad_json(docs):
    assert rows(
        docs,
        "SELECT get_json_object(j, '$.addr.city') AS city, get_json_object(j, '$.age') AS lower, "
        "get_json_object(j, '$.langs[0]') AS first, get_json_object(j, '$.langs[*]') AS every "
        "FROM docs ORDER BY id",
    ) == [
        {"city": "Paris", "lower": None, "first": "en", "every": '["en","fr"]'},
        {"city": None, "lower": None, "first": None, "every": None},
        {"city": None, "lower": None, "first": None, "every": None},
        {"city": None, "lower": None, "first": None, "every": None},
    ]


def test_try_cast_gives_null_where_cast_fails(session):
    assert rows(
        session,
        "SELECT try_cast('12' AS INT) AS a, try_cast('x' AS INT) AS b, "
        "try_cast('2024-02-30' AS DATE) AS c",
    ) == [{"a": 12, "b": None, "c": None}]
    with pytest.raises(SqlError):
        session.sql("SELECT cast('x' AS INT) AS a").to_arrow()


def test_explode_in_the_select_list_is_a_column_named_col(docs):
    assert rows(docs, "SELECT id, explode(tags) FROM docs ORDER BY id, col") == [
        {"id": 1, "col": "a"},
        {"id": 1, "col": "b"},
        {"id": 4, "col": "c"},
    ]
    assert rows(docs, "SELECT id, explode_outer(tags) AS t FROM docs ORDER BY id, t") == [
        {"id": 1, "t": "a"},
        {"id": 1, "t": "b"},
        {"id": 2, "t": None},
        {"id": 3, "t": None},
        {"id": 4, "t": "c"},
    ]
    assert rows(docs, "SELECT posexplode(array('x', 'y'))") == [
        {"pos": 0, "col": "x"},
        {"pos": 1, "col": "y"},
    ]


def test_lateral_view_explode_and_outer(docs):
    assert rows(
        docs, "SELECT id, t FROM docs LATERAL VIEW explode(tags) e AS t ORDER BY id, t"
    ) == [{"id": 1, "t": "a"}, {"id": 1, "t": "b"}, {"id": 4, "t": "c"}]
    assert rows(
        docs, "SELECT id, t FROM docs LATERAL VIEW OUTER explode(tags) e AS t ORDER BY id, t"
    ) == [
        {"id": 1, "t": "a"},
        {"id": 1, "t": "b"},
        {"id": 2, "t": None},
        {"id": 3, "t": None},
        {"id": 4, "t": "c"},
    ]


def test_array_and_size(docs):
    result = docs.sql(
        "SELECT id, size(tags) AS n, size(map('a', 1, 'b', 2)) AS m, array(id, id * 2) AS a "
        "FROM docs ORDER BY id"
    )
    # Databricks SQL runs with ANSI mode on: size(NULL) is NULL (legacy Spark gave -1)
    assert [(r["n"], r["m"], r["a"]) for r in result.to_pylist()] == [
        (2, 2, [1, 2]),
        (0, 2, [2, 4]),
        (None, 2, [3, 6]),
        (1, 2, [4, 8]),
    ]
    assert result.to_arrow().schema.field("n").type == pa.int32()


def test_range_forms(session):
    assert rows(session, "SELECT * FROM range(3)") == [{"id": 0}, {"id": 1}, {"id": 2}]
    assert [r["id"] for r in rows(session, "SELECT id FROM range(2, 11, 4)")] == [2, 6, 10]
    assert column_type(session, "SELECT id FROM range(1)") == pa.int64()


def test_current_timestamp_is_one_utc_timestamp_per_statement(session):
    before = dt.datetime.now(dt.UTC)
    result = session.sql(
        "SELECT current_timestamp() AS a, current_timestamp AS b, now() AS c FROM range(3)"
    )
    after = dt.datetime.now(dt.UTC)
    values = {v for r in result.to_pylist() for v in r.values()}
    assert len(values) == 1
    (value,) = values
    assert before - dt.timedelta(seconds=1) <= value <= after + dt.timedelta(seconds=1)
    assert result.to_arrow().schema.field("a").type.tz is not None


def test_a_colon_path_column_is_named_after_its_field(docs):
    assert docs.sql("SELECT j:addr.city, j:name FROM docs").columns == ["city", "name"]


def test_dayofweek_counts_from_sunday_and_date_add_is_a_date(session):
    result = session.sql(
        "SELECT dayofweek(DATE '2024-05-05') AS sun, dayofweek(TIMESTAMP '2024-05-11 10:00:00') "
        "AS sat, date_add(DATE '2024-02-28', 1) AS d"
    ).to_arrow()
    assert result.to_pylist() == [{"sun": 1, "sat": 7, "d": dt.date(2024, 2, 29)}]
    assert result.schema.field("d").type == pa.date32()


def test_count_star_is_named_as_spark_names_it(session):
    result = session.sql("SELECT count(*), count(*) AS n FROM range(3)").to_pylist()
    assert result == [{"count(1)": 3, "n": 3}]


def test_current_catalog_and_schema_are_the_lakehouse_namespace(session):
    query = "SELECT current_catalog(), current_schema(), current_database() AS db"
    assert session.sql(query).to_pylist() == [
        {"current_catalog()": "main", "current_schema()": "default", "db": "default"}
    ]
    session.sql("CREATE SCHEMA sales")
    session.sql("USE sales")
    assert session.sql("SELECT upper(current_schema()) AS s").to_pylist() == [{"s": "SALES"}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1/0",
        "SELECT x / y FROM VALUES (1, 0) AS t(x, y)",
        "SELECT 1.5 / (2 - 2)",
        "SELECT 5 % 0",
        "SELECT 5 div 0",
    ],
)
def test_division_by_zero_raises_as_in_ansi_mode(session, sql):
    with pytest.raises(SqlError) as raised:
        session.sql(sql).to_pylist()
    assert str(raised.value) == DIVIDE_BY_ZERO


def test_try_divide_and_nonzero_divisors_are_unchanged(session):
    row = session.sql(
        "SELECT try_divide(1, 0) AS t, x / 2 AS h, x / y AS q, 0.0 / y AS z "
        "FROM VALUES (1, 4) AS t(x, y)"
    ).to_pylist()[0]
    assert row == {"t": None, "h": 0.5, "q": 0.25, "z": 0.0}


def test_unaliased_expressions_are_named_as_spark_names_them(session):
    counts = session.sql("SELECT count(*), COUNT(x) FROM VALUES (2) AS t(x)")
    assert counts.to_arrow().column_names == ["count(1)", "count(x)"]
    divided = session.sql("SELECT x / 2, round(x / 4, 1) FROM VALUES (2) AS t(x)")
    assert divided.to_arrow().column_names == ["(x / 2)", "round((x / 4), 1)"]
    tree = parse_statements("SELECT a + b * c")[0]
    assert spark_name(tree.selects[0]) == "(a + (b * c))"
