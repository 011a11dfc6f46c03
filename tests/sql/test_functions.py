from __future__ import annotations

import pytest

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.functions import bind_ai_query
from lakeinfer.sql.parse import parse_statements
from lakeinfer.sql.plan import ai_calls


def bind(sql: str):
    (statement,) = parse_statements(sql)
    return bind_ai_query(ai_calls(statement)[0])


def test_positional_arguments():
    call = bind("SELECT ai_query('ep', text, 'ARRAY<FLOAT>', false) FROM t")
    assert (call.endpoint, call.return_ddl, call.fail_on_error) == ("ep", "ARRAY<FLOAT>", False)
    assert call.request.sql() == "text"
    assert call.parameters == {"temperature": 0.0}


def test_named_arguments_in_any_order_and_case():
    call = bind("SELECT ai_query(REQUEST => text, Endpoint => 'ep', failonerror => true) FROM t")
    assert call.endpoint == "ep" and call.fail_on_error is True


def test_old_endpoint_name_argument_is_accepted():
    assert bind("SELECT ai_query(endpointName => 'ep', request => x) FROM t").endpoint == "ep"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT ai_query(endpoint => 'e', x) FROM t", "positional argument 2 follows a named"),
        (
            "SELECT ai_query('e', x, systemPrompt => 'be nice') FROM t",
            "unknown argument 'systemPrompt'",
        ),
        ("SELECT ai_query('e') FROM t", "missing required argument 'request'"),
        ("SELECT ai_query(name, x) FROM t", "endpoint must be a string literal"),
        ("SELECT ai_query('e', x, 'STRING', 'no') FROM t", "failOnError must be TRUE or FALSE"),
        ("SELECT ai_query('e', x, 'NOT A TYPE<') FROM t", "invalid type"),
        (
            "SELECT ai_query('e', x, returnType => 'STRUCT<a: INT') FROM t",
            "returnType: invalid type 'STRUCT<a: INT': expected '>', found the end at position 14",
        ),
        (
            "SELECT ai_query('e', x, returnType => 'STRUCT<a: INT, b: STRNG>') FROM t",
            "unknown type 'STRNG' at position 19; did you mean STRING?",
        ),
        (
            "SELECT ai_query('e', x, responseFormat => 'STRUCT<a: INT, b: STRNG>') FROM t",
            "unknown type 'STRNG' at position 19; did you mean STRING?",
        ),
        ("SELECT ai_query('e', x, 'STRING', true, 1) FROM t", "at most 4 positional"),
        ("SELECT ai_query('e', x, request => y) FROM t", "given twice"),
        (
            "SELECT ai_query('e', x, modelParameters => named_struct('t', col)) FROM t",
            "must be constant",
        ),
        (
            "SELECT ai_query('e', x, responseFormat => '{\"name\": \"x\"}') FROM t",
            "AI_FUNCTION_UNSUPPORTED_RESPONSE_FORMAT",
        ),
    ],
)
def test_misuse_is_reported_with_its_position(sql, message):
    with pytest.raises(AnalysisError) as error:
        bind(sql)
    assert message in str(error.value)
    assert "line 1, column" in str(error.value)


def test_model_parameters_are_evaluated_once_as_constants():
    call = bind(
        "SELECT ai_query('e', x, modelParameters => named_struct('max_tokens', 10, "
        "'temperature', CAST(0.5 AS DOUBLE), 'stop', array('a', 'b'))) FROM t"
    )
    assert call.parameters == {"temperature": 0.5, "max_tokens": 10, "stop": ["a", "b"]}


def test_response_format_is_forwarded():
    call = bind("SELECT ai_query('e', x, responseFormat => '{\"type\": \"json_object\"}') FROM t")
    assert call.parameters["response_format"] == {"type": "json_object"}
