"""One argument binder for the functions lakeinfer implements from the AST: ``ai_query``, the
task functions, the semantic operators and the table functions.

A :class:`Signature` lists a function's parameters in order, which of them are required and,
for each, what its value must be (:class:`Kind`: any expression, a string, boolean or count
literal, or a constant expression). :func:`bind` reads a call against it, as Spark does:

- arguments are positional (in the signature's order) or named (``name => value``; names are
  case-insensitive); a positional argument after a named one is an error;
- a name not in the signature, a parameter given twice, too many positional arguments and a
  missing required parameter are errors;
- literal parameters come back as Python values (``str``, ``bool``, ``int``), the others as
  the argument's expression.

Every error is an :class:`~lakeinfer.errors.AnalysisError` that starts with the function and
the call's position in the statement (``ai_query at line 1, column 8: ...``) and names the
argument, before any model is called.
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
from sqlglot import exp

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.parse import position_of


class Kind(enum.Enum):
    """What an argument's value must be."""

    #: any expression (a column, a computation, ...)
    ANY = "any"
    #: a string literal: bound to its ``str``
    STRING = "a string literal"
    #: TRUE or FALSE: bound to its ``bool``
    BOOLEAN = "TRUE or FALSE"
    #: a non-negative integer literal: bound to its ``int``
    COUNT = "a non-negative integer literal"
    #: an expression with no column or subquery in it (evaluated by the function)
    CONSTANT = "constant"


@dataclass(frozen=True)
class Parameter:
    """One parameter of a function."""

    name: str
    kind: Kind = Kind.ANY
    required: bool = False
    #: False: the parameter can only be named (``name => value``)
    positional: bool = True
    #: other names the parameter answers to (older spellings)
    aliases: tuple[str, ...] = ()
    #: what a value means, added to a wrong value's error, e.g. ``0: no limit``
    note: str = ""


@dataclass(frozen=True)
class Signature:
    """A function's parameters, positional ones first, required ones before optional ones."""

    function: str
    parameters: tuple[Parameter, ...]
    #: added to the error for an unknown argument name (where the right place is elsewhere)
    unknown_hint: str = ""

    def __post_init__(self) -> None:
        seen_optional = seen_named_only = False
        for parameter in self.parameters:
            assert not (parameter.required and seen_optional), "required parameters come first"
            assert not (parameter.positional and seen_named_only), "positional ones come first"
            seen_optional |= not parameter.required
            seen_named_only |= not parameter.positional

    @classmethod
    def of(cls, function: str, names: tuple[str, ...], required: int = 0) -> Signature:
        """A signature of plain expression parameters, the first ``required`` of them
        required."""
        return cls(
            function, tuple(Parameter(n, required=i < required) for i, n in enumerate(names))
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def positional(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.positional)

    def usage(self) -> str:
        """How to call the function: ``f(a, b [, c] [, d => ...])``."""
        parts = []
        for index, parameter in enumerate(self.parameters):
            text = parameter.name if parameter.positional else f"{parameter.name} => ..."
            comma = ", " if index else ""
            parts.append(f"{comma}{text}" if parameter.required else f" [{comma}{text}]")
        return f"{self.function}({''.join(parts).strip()})"

    def parameter(self, name: str) -> Parameter | None:
        """The parameter called ``name`` (case-insensitive, aliases included), else None."""
        wanted = name.lower()
        for parameter in self.parameters:
            if wanted == parameter.name.lower() or wanted in (a.lower() for a in parameter.aliases):
                return parameter
        return None


def call_arguments(node: exp.Expression) -> list[exp.Expression]:
    """The arguments of a call, in order (sqlglot parses some calls, e.g. ``vector_search``
    as BigQuery's VECTOR_SEARCH, into nodes that keep them under their own names)."""
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [v for v in node.args.values() if isinstance(v, exp.Expression)]


def where(node: exp.Expression, signature: Signature) -> str:
    """The prefix of an error about the call: ``function at line L, column C``."""
    return f"{signature.function}{position_of(node)}"


def bind(node: exp.Expression, signature: Signature) -> dict[str, Any]:
    """The arguments of the call ``node`` by parameter name: literal kinds as Python values,
    the others as expressions; parameters not given are absent. :class:`AnalysisError` on
    any misuse, naming the function, the call's position and the argument."""
    at = where(node, signature)
    given = _match(call_arguments(node), signature, at)
    for parameter in signature.parameters:
        if parameter.required and parameter.name not in given:
            raise AnalysisError(
                f"{at}: missing required argument {parameter.name!r}; call it as "
                f"{signature.usage()}"
            )
    by_name = {p.name: p for p in signature.parameters}
    return {name: _value(value, by_name[name], at) for name, value in given.items()}


def _match(
    arguments: list[exp.Expression], signature: Signature, at: str
) -> dict[str, exp.Expression]:
    positional = signature.positional
    given: dict[str, exp.Expression] = {}
    named = False
    for index, argument in enumerate(arguments):
        if isinstance(argument, (exp.Kwarg, exp.PropertyEQ)):
            named = True
            raw = argument.this.name
            parameter = signature.parameter(raw)
            if parameter is None:
                raise AnalysisError(
                    f"{at}: unknown argument {raw!r}; expected one of "
                    f"{', '.join(signature.names)}{_closest(raw, signature)}{signature.unknown_hint}"
                )
            value = argument.expression
        else:
            if named:
                raise AnalysisError(
                    f"{at}: positional argument {index + 1} follows a named argument; name it "
                    "too, or give the positional arguments first"
                )
            if index >= len(positional):
                raise AnalysisError(f"{at}: {_too_many(signature, len(arguments))}")
            parameter, value = positional[index], argument
        if parameter.name in given:
            raise AnalysisError(f"{at}: argument {parameter.name!r} is given twice")
        given[parameter.name] = value
    return given


def _too_many(signature: Signature, count: int) -> str:
    positional = signature.positional
    listed = ", ".join(p.name for p in positional)
    if len(positional) < len(signature.parameters):
        others = signature.parameters[len(positional)]
        return (
            f"at most {len(positional)} positional {_plural(len(positional))} ({listed}); "
            f"name the others, e.g. {others.name} => ..."
        )
    return f"takes at most {len(positional)} {_plural(len(positional))} ({listed}), got {count}"


def _plural(count: int) -> str:
    return "argument" if count == 1 else "arguments"


def _closest(raw: str, signature: Signature) -> str:
    lowered = {p.name.lower(): p.name for p in signature.parameters}
    close = difflib.get_close_matches(raw.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def _value(node: exp.Expression, parameter: Parameter, at: str) -> Any:
    kind = parameter.kind
    if kind is Kind.ANY:
        return node
    if kind is Kind.CONSTANT:
        if node.find(exp.Column, exp.Subquery, exp.Query) is None:
            return node
        raise AnalysisError(
            f"{at}: {parameter.name} must be constant (it refers to a column or subquery), got "
            f"{node.sql(dialect='databricks')}"
        )
    if kind is Kind.STRING and isinstance(node, exp.Literal) and node.is_string:
        return node.this
    if kind is Kind.BOOLEAN and isinstance(node, exp.Boolean):
        return bool(node.this)
    if (
        kind is Kind.COUNT
        and isinstance(node, exp.Literal)
        and not node.is_string
        and node.this.isdigit()
    ):
        return int(node.this)
    note = f" ({parameter.note})" if parameter.note else ""
    raise AnalysisError(
        f"{at}: {parameter.name} must be {kind.value}{note}, got {node.sql(dialect='databricks')}"
    )


def evaluate_constant(con: duckdb.DuckDBPyConnection, node: exp.Expression, what: str) -> Any:
    """The value of a constant argument (bound as :attr:`Kind.CONSTANT`), computed by DuckDB
    on ``con``: DECIMAL as float, recursively. ``what`` prefixes the error when it fails."""
    try:
        rows = con.sql(f"SELECT {node.sql(dialect='duckdb')}").fetchall()
    except duckdb.Error as exc:
        raise AnalysisError(f"{what} cannot be evaluated: {exc}") from None
    return plain(rows[0][0]) if rows else None


def plain(value: Any) -> Any:
    """Decimal -> float, tuples -> lists, recursively: the values JSON bodies and Python
    checks expect from SQL constants (``0.5`` is a DECIMAL in SQL)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
