"""Binding of the task functions: signatures, literal arguments and Databricks' limits, all
checked before any model is called, with errors naming function, argument and position."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from sqlglot import parse_one

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.functions import bind_ai_query, is_ai_query
from lakeinfer.sql.plan import ai_calls
from lakeinfer.sql.task_functions import TASK_FUNCTIONS
from lakeinfer.sql.translate import translate


def bind(sql: str):
    tree = translate(parse_one(f"SELECT {sql} FROM t", read="databricks"))
    (node,) = ai_calls(tree)
    return bind_ai_query(node)


def labels(n: int) -> str:
    return ", ".join(f"'l{i}'" for i in range(n))


def test_every_task_function_binds_to_an_ai_query_call_with_its_result_type():
    types = {
        "ai_analyze_sentiment(x)": pa.string(),
        "ai_classify(x, ARRAY('a', 'b'))": pa.string(),
        'ai_classify(x, \'["a", "b"]\')': pa.string(),
        "ai_extract(x, ARRAY('person', 'city'))": pa.struct(
            [pa.field("person", pa.string()), pa.field("city", pa.string())]
        ),
        "ai_extract(x, '[\"person\"]')": pa.string(),
        "ai_fix_grammar(x)": pa.string(),
        "ai_gen(x)": pa.string(),
        "ai_mask(x, ARRAY('email'))": pa.string(),
        "ai_similarity(x, y)": pa.float32(),
        "ai_summarize(x)": pa.string(),
        "ai_translate(x, 'de')": pa.string(),
    }
    seen = set()
    for sql, dtype in types.items():
        call = bind(sql)
        assert call.task is not None and call.endpoint == ""
        assert call.result_type("chat") == dtype, sql
        assert call.parameters["temperature"] == 0.0
        seen.add(call.task.function)
    assert seen == set(TASK_FUNCTIONS)


@pytest.mark.parametrize(
    ("to_lang", "language"),
    [
        ("de", "German"),
        ("DE", "German"),
        ("Spanish", "Spanish"),
        ("French", "French"),
        ("es-MX", "Spanish (Mexico)"),
        ("es_MX", "Spanish (Mexico)"),
        ("pt-BR", "Portuguese (Brazil)"),
        ("zh-Hans", "Chinese (Simplified)"),
        ("ja", "Japanese"),
        ("español", "Spanish"),
    ],
)
def test_translate_takes_bcp47_codes_and_language_names(to_lang, language):
    call = bind(f"ai_translate(x, '{to_lang}')")
    assert call.task.instruction == (
        f"Translate the text below to {language}. Answer with the translation only."
    )


def test_label_tasks_pin_their_answers_with_an_enum_schema():
    call = bind("ai_classify(x, ARRAY('urgent', 'not urgent'))")
    schema = call.parameters["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == ["urgent", "not urgent"]
    assert schema["additionalProperties"] is False
    sentiment = bind("ai_analyze_sentiment(x)").parameters["response_format"]
    enum = sentiment["json_schema"]["schema"]["properties"]["sentiment"]["enum"]
    assert enum == ["positive", "negative", "neutral", "mixed"]


def test_summarize_word_limit_defaults_to_50_and_0_means_none():
    assert "at most 50 words" in bind("ai_summarize(x)").task.instruction
    assert "at most 7 words" in bind("ai_summarize(x, 7)").task.instruction
    assert "words" not in bind("ai_summarize(x, 0)").task.instruction
    spec = bind("ai_summarize(x, 3)").task
    assert spec.finish("one two three four five", "text") == "one two three"
    with pytest.raises(AnalysisError, match=r"ai_summarize at line 1, column \d+: max_words"):
        bind("ai_summarize(x, -1)")
    with pytest.raises(AnalysisError, match="non-negative integer literal"):
        bind("ai_summarize(x, y)")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("ai_classify(x, ARRAY('a'))", "labels must hold 2 to 20 labels, got 1"),
        (f"ai_classify(x, ARRAY({labels(21)}))", "labels must hold 2 to 20 labels, got 21"),
        ("ai_classify(x, ARRAY('a', 'a'))", "labels repeats 'a'"),
        ("ai_classify(x, ARRAY('a', y))", "labels must be string literals"),
        ("ai_classify(x, '[\"a\"]')", "labels must hold 2 to 500 labels, got 1"),
        (
            "ai_classify(x, '" + json.dumps([f"l{i}" for i in range(501)]) + "')",
            "2 to 500 labels, got 501",
        ),
        ("ai_classify(x, '[\"" + "a" * 101 + '", "b"]\')', "1 to 100 characters"),
        ('ai_classify(x, \'{"a": "' + "d" * 1001 + '", "b": ""}\')', "at most 1000"),
        ("ai_classify(x, 'not json')", "labels is not valid JSON"),
        ("ai_classify(x, '[\"a\", \"b\"]', MAP('colour', 'red'))", "unknown option 'colour'"),
        ("ai_classify(x, '[\"a\", \"b\"]', MAP('multilabel', 'maybe'))", "'true' or 'false'"),
        (
            "ai_classify(x, '[\"a\", \"b\"]', MAP('instructions', '" + "i" * 20001 + "'))",
            "more than 20000",
        ),
        ("ai_classify(x, ARRAY('a', 'b'), MAP('multilabel', 'true'))", "options need the JSON"),
        ("ai_mask(x)", "missing required argument 'labels'"),
        ('ai_extract(x, \'{"_id": {"type": "string"}}\')', "must not start with '_'"),
        ('ai_extract(x, \'{"a": {"type": "date"}}\')', "Unsupported type(s): 'date'"),
        (
            'ai_extract(x, \'{"a": {"type": "string", "required": true}}\')',
            "Unsupported keyword(s): required",
        ),
        (
            'ai_extract(x, \'{"a": {"type": "array", "items": {"type": "array", '
            '"items": {"type": "string"}}}}\')',
            "nested arrays",
        ),
        (
            "ai_extract(x, '"
            + json.dumps({f"f{i}": {"type": "string"} for i in range(129)})
            + "')",
            "more than 128 properties",
        ),
        ('ai_extract(x, \'{"a": {"type": "enum"}}\')', "needs a list of labels"),
        (
            "ai_translate(x, 'xx')",
            "to_lang 'xx' is not supported: it names no known language; give a BCP-47 language "
            "code (e.g. 'es', 'es-MX', 'pt-BR', 'zh-Hans') or a language name",
        ),
        ("ai_translate(x, 'Elvish Sindarin')", "to_lang 'Elvish Sindarin' is not supported"),
        ("ai_translate(x, 'und')", "to_lang 'und' is not supported"),
        ("ai_translate(x, 'es-ZZ')", "to_lang 'es-ZZ' is not supported"),
        ("ai_mask(x, ARRAY())", "at least 1 label"),
        ("ai_similarity(x)", "missing required argument 'expr2'"),
        ("ai_gen(x, y)", "takes at most 1 argument (prompt), got 2"),
        ("ai_summarize(content => x, colour => 1)", "unknown argument 'colour'"),
        ("ai_summarize(content => x, 5)", "positional argument 2 follows a named argument"),
        ("ai_summarize(x, max_word => 5)", "did you mean 'max_words'?"),
    ],
)
def test_limits_and_misuse_are_clear_errors_naming_function_and_position(sql, message):
    function = sql.split("(")[0]
    with pytest.raises(AnalysisError) as error:
        bind(sql)
    text = str(error.value)
    assert text.startswith(f"{function} at line 1, column "), text
    assert message in text


def test_extract_v2_schema_becomes_a_strict_schema_of_nullable_fields():
    schema_text = json.dumps(
        {
            "name": {"type": "string", "description": "full name"},
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "tier": {"type": "enum", "labels": ["gold", "silver"]},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    )
    call = bind(f"ai_extract(x, '{schema_text}')")
    schema = call.parameters["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["name", "age", "tags", "tier", "address"]
    assert schema["properties"]["age"] == {"type": ["integer", "null"]}
    assert schema["properties"]["tier"] == {"enum": ["gold", "silver", None]}
    answer = {"name": "Ann", "age": 3, "tags": ["x"], "tier": None, "address": {"city": "Oslo"}}
    result = json.loads(call.task.finish(json.dumps(answer), "text"))
    assert result == {"response": answer, "error_message": None}


def test_typed_sqlglot_nodes_are_task_calls():
    tree = translate(
        parse_one(
            "SELECT ai_classify(x, ARRAY('a', 'b')), ai_similarity(x, y) FROM t", read="databricks"
        )
    )
    nodes = ai_calls(tree)
    assert [str(n.this) for n in nodes] == ["ai_classify", "ai_similarity"]
    assert all(is_ai_query(n) for n in nodes)
