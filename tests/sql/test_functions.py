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


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ("'temperature', 'hot'", "temperature must be a number from 0 to 2, got 'hot'"),
        ("'temperature', 2.5", "temperature must be a number from 0 to 2, got 2.5"),
        ("'temperature', true", "temperature must be a number from 0 to 2, got True"),
        ("'max_tokens', 0", "max_tokens must be a positive integer, got 0"),
        ("'max_tokens', 10.5", "max_tokens must be a positive integer, got 10.5"),
        ("'max_tokens', '100'", "max_tokens must be a positive integer, got '100'"),
        ("'top_p', 1.5", "top_p must be a number from 0 to 1, got 1.5"),
        ("'stop', 5", "stop must be a non-empty string or an array of 1 to 4 non-empty strings"),
        ("'stop', array('a', 'b', 'c', 'd', 'e')", "stop must be a non-empty string or an array"),
        ("'presence_penalty', -3", "presence_penalty must be a number from -2 to 2, got -3"),
        ("'temprature', 0.5", "unknown parameter 'temprature'; did you mean 'temperature'?"),
    ],
)
def test_wrong_model_parameters_are_refused_naming_the_parameter(parameters, message):
    with pytest.raises(AnalysisError) as error:
        bind(f"SELECT ai_query('e', x, modelParameters => named_struct({parameters})) FROM t")
    text = str(error.value)
    assert text.startswith(f"ai_query at line 1, column 8: modelParameters: {message}"), text


def test_valid_and_server_specific_model_parameters_pass():
    call = bind(
        "SELECT ai_query('e', x, modelParameters => named_struct('temperature', 0, "
        "'max_tokens', 64.0, 'stop', 'END', 'top_p', 0.9, 'min_p', 0.05)) FROM t"
    )
    assert call.parameters == {
        "temperature": 0,
        "max_tokens": 64,
        "stop": "END",
        "top_p": 0.9,
        "min_p": 0.05,
    }
