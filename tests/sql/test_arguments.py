"""The one argument binder: positional and named arguments, literals and constants, and the
errors for each misuse, naming function, call position and argument."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp, parse_one

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.arguments import Kind, Parameter, Signature, bind, evaluate_constant

#: f(text, mode [, limit] [, strict] [, options => ...])
SIGNATURE = Signature(
    "f",
    (
        Parameter("text", required=True),
        Parameter("mode", Kind.STRING, required=True, aliases=("oldMode",)),
        Parameter("limit", Kind.COUNT, note="0: none"),
        Parameter("strict", Kind.BOOLEAN),
        Parameter("options", Kind.CONSTANT, positional=False),
    ),
    unknown_hint=" (put it in the text)",
)


def call(arguments: str) -> exp.Expression:
    """The ``f(...)`` node of ``SELECT f(arguments) FROM t``, with its source position."""
    tree = parse_one(f"SELECT f({arguments}) FROM t", read="databricks")
    return next(n for n in tree.find_all(exp.Anonymous) if n.name.lower() == "f")


def bound(arguments: str) -> dict:
    return bind(call(arguments), SIGNATURE)


def error(arguments: str) -> str:
    with pytest.raises(AnalysisError) as raised:
        bound(arguments)
    return str(raised.value)


def test_positional_arguments_bind_in_order_with_literals_as_values():
    args = bound("x || 'a', 'fast', 5, false")
    assert args["text"].sql() == "x || 'a'"
    assert (args["mode"], args["limit"], args["strict"]) == ("fast", 5, False)
    assert "options" not in args


def test_named_arguments_in_any_order_and_case():
    args = bound("STRICT => true, Mode => 'slow', text => y")
    assert (args["mode"], args["strict"], args["text"].sql()) == ("slow", True, "y")


def test_an_alias_names_the_parameter():
    assert bound("x, oldMode => 'm'")["mode"] == "m"


def test_mixed_positional_then_named_including_a_named_only_parameter():
    args = bound("x, 'm', options => named_struct('k', 1), limit => 0")
    assert args["limit"] == 0
    assert isinstance(args["options"], exp.Struct)


def test_positional_after_named_is_refused():
    assert error("text => x, 'm'") == (
        "f at line 1, column 8: positional argument 2 follows a named argument; name it too, or "
        "give the positional arguments first"
    )


def test_unknown_argument_lists_the_parameters_and_the_closest_name():
    assert error("x, 'm', limt => 3") == (
        "f at line 1, column 8: unknown argument 'limt'; expected one of text, mode, limit, "
        "strict, options; did you mean 'limit'? (put it in the text)"
    )


def test_duplicate_argument_is_refused_by_position_and_name_alike():
    assert error("x, 'm', mode => 'n'") == "f at line 1, column 8: argument 'mode' is given twice"
    assert error("x, MODE => 'n', oldMode => 'o'").endswith("argument 'mode' is given twice")


def test_missing_required_argument_shows_how_to_call():
    assert error("x, strict => true") == (
        "f at line 1, column 8: missing required argument 'mode'; call it as "
        "f(text, mode [, limit] [, strict] [, options => ...])"
    )


def test_too_many_positional_arguments_point_to_the_named_ones():
    assert error("x, 'm', 1, true, 5") == (
        "f at line 1, column 8: at most 4 positional arguments (text, mode, limit, strict); "
        "name the others, e.g. options => ..."
    )
    plain = Signature.of("g", ("a",), required=1)
    tree = parse_one("SELECT g(1, 2) FROM t", read="databricks")
    with pytest.raises(AnalysisError, match=r"^g at line 1, column 8: takes at most 1 argument "):
        bind(tree.find(exp.Anonymous), plain)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("x, m", "mode must be a string literal, got m"),
        ("x, 'm', -1", "limit must be a non-negative integer literal (0: none), got -1"),
        ("x, 'm', 1.5", "limit must be a non-negative integer literal (0: none), got 1.5"),
        ("x, 'm', 1, 'no'", "strict must be TRUE or FALSE, got 'no'"),
    ],
)
def test_a_literal_parameter_given_anything_else_is_refused(arguments, message):
    assert error(arguments) == f"f at line 1, column 8: {message}"


@pytest.mark.parametrize(
    "options",
    ["named_struct('k', col)", "(SELECT 1)", "named_struct('k', (SELECT max(a) FROM u))"],
)
def test_a_constant_parameter_given_a_column_or_subquery_is_refused(options):
    message = error(f"x, 'm', options => {options}")
    assert message.startswith(
        "f at line 1, column 8: options must be constant (it refers to a column or subquery), got "
    )


def test_a_call_without_position_names_the_function_only():
    node = exp.Anonymous(this="f", expressions=[exp.Literal.string("x")])
    with pytest.raises(AnalysisError, match=r"^f: missing required argument 'mode'"):
        bind(node, SIGNATURE)


def test_constants_evaluate_to_plain_python_values():
    args = bound("x, 'm', options => named_struct('t', 0.5, 'l', array(1.5, 2))")
    with duckdb.connect() as con:
        assert evaluate_constant(con, args["options"], "f: options") == {"t": 0.5, "l": [1.5, 2.0]}
        with pytest.raises(AnalysisError, match=r"^f: options cannot be evaluated: "):
            evaluate_constant(con, parse_one("1 / 'a'"), "f: options")


def test_signatures_keep_required_and_positional_parameters_first():
    with pytest.raises(AssertionError):
        Signature("h", (Parameter("a"), Parameter("b", required=True)))
    with pytest.raises(AssertionError):
        Signature("h", (Parameter("a", positional=False), Parameter("b")))
