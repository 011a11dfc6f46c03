"""Spark's JSON rules as lakeinfer implements them (the SQL-level behaviour is in
test_translate.py)."""

from __future__ import annotations

import json

import pytest

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.json_functions import conform, drop_null_fields, extract_path, infer_schema


@pytest.mark.parametrize(
    ("text", "ddl", "expected"),
    [
        ('{"a": 5}', "a INT", {"a": 5}),
        ('{"a": "5"}', "a INT", {"a": None}),  # a string is no INT
        ('{"a": 5.0}', "a BIGINT", {"a": None}),
        ('{"a": 99999999999}', "a INT", {"a": None}),  # out of range
        ('{"a": 5}', "a DOUBLE", {"a": 5}),
        ('{"a": 1}', "a BOOLEAN", {"a": None}),
        (
            '{"a": {"b": [1, "x"], "c": 2}}',
            "a STRUCT<b: ARRAY<INT>, c: INT>",
            {"a": {"b": None, "c": 2}},
        ),
        ('{"a": 1, "b": "x"}', "a INT, b INT", {"a": 1, "b": None}),  # other fields kept
        ('{"a": [1, {"k": null}]}', "a STRING", {"a": '[1,{"k":null}]'}),
        ("[1]", "a INT", {}),
        ("{broken", "a INT", {}),
        ('{"k": 1}', "MAP<STRING, INT>", {"k": 1}),
        ("{broken", "ARRAY<INT>", None),
        ('{"a": "2024-01-02"}', "a DATE", {"a": "2024-01-02"}),
    ],
)
def test_conform_follows_sparks_permissive_reader(text, ddl, expected):
    out = conform(text, ddl)
    assert (json.loads(out) if out is not None else None) == expected


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([["key", "A", False]], "1.5"),  # numbers in their shortest form
        ([["key", "A", True]], None),
        ([["key", "s", False]], "x"),
        ([["key", "n", False]], None),
        ([["key", "o", False]], '{"k":[true,null]}'),
        ([["key", "arr", False], ["index", 1], ["key", "v", False]], "2"),
        ([["key", "arr", False], ["wildcard"], ["key", "v", False]], "[1,2]"),
        ([["key", "arr", False], ["index", 5]], None),
        ([["key", "s", False], ["key", "deeper", False]], None),
    ],
)
def test_extract_path(steps, expected):
    doc = '{"a": 1.50, "s": "x", "n": null, "o": {"k": [true, null]}, "arr": [{"v": 1}, {"v": 2}]}'
    assert extract_path(doc, steps) == expected


def test_get_json_object_unwraps_a_single_wildcard_match():
    doc = '{"arr": [{"v": 1}]}'
    steps = [["key", "arr", True], ["wildcard"], ["key", "v", True]]
    assert extract_path(doc, steps, unwrap_single=True) == "1"
    assert extract_path(doc, steps) == "[1]"


def test_extract_path_of_malformed_json_or_null_is_null():
    assert extract_path("{", [["key", "a", True]]) is None
    assert extract_path(None, [["key", "a", True]]) is None


def test_ambiguous_case_insensitive_field_is_an_error():
    with pytest.raises(AnalysisError, match="ambiguous"):
        extract_path('{"a": 1, "A": 2}', [["key", "a", False]])


def test_drop_null_fields_keeps_null_elements_and_number_text():
    assert (
        drop_null_fields('{"a":null,"b":[null,1.50],"c":{"d":null}}') == '{"b":[null,1.50],"c":{}}'
    )
    assert drop_null_fields('{"a":1}') == '{"a":1}'
    assert drop_null_fields(None) is None


@pytest.mark.parametrize(
    ("text", "ddl"),
    [
        ('{"b": 1, "a": "x"}', "STRUCT<a: STRING, b: BIGINT>"),
        ("[1, 2.5]", "ARRAY<DOUBLE>"),
        ('[1, "x"]', "ARRAY<STRING>"),
        ('[{"a": 1}, {"b": true}]', "ARRAY<STRUCT<a: BIGINT, b: BOOLEAN>>"),
        ('{"a": null, "b": [], "c": {}}', "STRUCT<a: STRING, b: ARRAY<STRING>>"),
        ('{"a": 123456789012345678901}', "STRUCT<a: DECIMAL(21,0)>"),
    ],
)
def test_infer_schema_like_spark(text, ddl):
    assert infer_schema(text) == ddl


def test_register_twice_replaces_the_functions():
    import duckdb

    from lakeinfer.sql.json_functions import register

    con = duckdb.connect()
    register(con)
    register(con)
    assert con.sql("""SELECT __li_to_json('{"a":null,"b":1}') AS j""").fetchall() == [('{"b":1}',)]
