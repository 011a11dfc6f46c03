"""The task functions (``ai_summarize``, ``ai_classify``, ...) and ``ai_filter`` as Arrow UDFs.

Nothing is re-implemented here: each batch's literal arguments (labels, options, max_words)
are turned back into a call ``ai_classify(__li_content, ARRAY('a', 'b'))`` and bound by the
embedded engine's own :func:`~lakeinfer.sql.functions.bind_ai_query`, so prompts, response
formats, result types and the checks of structured answers are those of the embedded engine;
the executor's :class:`~lakeinfer.engine.ai_eval.AiEvaluator` answers the call from the
endpoint named by the ``task_endpoint`` setting (``embedding_endpoint`` for ``ai_similarity``).
``ai_filter`` is bound by :func:`lakeinfer.sql.semantic.rewrite` to its ``ai_query`` form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from lakeinfer.errors import AnalysisError
from lakeinfer.spark.shipping import ShippedConfig
from lakeinfer.spark.worker import ExecutorRuntime, runtime
from lakeinfer.sql import semantic
from lakeinfer.sql.ddl import to_ddl
from lakeinfer.sql.functions import bind_ai_query
from lakeinfer.sql.task_functions import PARAMETERS

#: arguments that carry row data; every other argument must be the same on every row
DATA = {"content", "prompt", "expr1", "expr2", "to_lang"}
UdfBody = Callable[..., pa.Array]


class TaskSignature(Protocol):
    """What a task body needs of its registered signature."""

    @property
    def result_type(self) -> pa.DataType: ...

    def describe(self) -> str: ...


def task_ddl(dtype: pa.DataType) -> str:
    """The Spark DDL of a task function's result (struct fields quoted: they are labels)."""
    return to_ddl(dtype, quote_all=True)


def task_body(function: str) -> Callable[[ShippedConfig, TaskSignature, str], UdfBody]:
    """The factory of the Arrow UDF body of the task function ``function``."""

    def factory(shipped: ShippedConfig, signature: TaskSignature, name: str) -> UdfBody:
        def answer(columns: dict[str, pa.Array | None]) -> pa.Array:
            return answer_task(runtime(shipped), function, signature, name, columns)

        return _with_parameters(PARAMETERS[function], answer)

    return factory


def answer_task(
    runner: ExecutorRuntime,
    function: str,
    signature: TaskSignature,
    name: str,
    columns: dict[str, pa.Array | None],
) -> pa.Array:
    """One batch of ``function``: bound from its literal arguments, answered by ``runner``."""
    given = {k: _combined(v) for k, v in columns.items() if v is not None}
    data = [k for k in PARAMETERS[function] if k in given and k in DATA]
    node = exp.Anonymous(
        this=function,
        expressions=[
            exp.Kwarg(
                this=exp.to_identifier(key),
                expression=exp.column(f"__li_{key}")
                if key in DATA
                else _literal(_constant(values, name, key)),
            )
            for key, values in given.items()
        ],
    )
    call = bind_ai_query(node)
    assert call.task is not None
    if call.task.result_type != signature.result_type:
        raise AnalysisError(
            f"{name} is registered in Spark returning {task_ddl(signature.result_type)}, so "
            f"this call, which returns {task_ddl(call.task.result_type)}, needs its own "
            f"function: run the statement through lakeinfer.spark.sql(spark, text) or "
            f"lakeinfer.spark.expr(text), which register one per result type"
        )
    if call.task.inputs:
        requests = _pairs([given[k] for k in data], call.task.inputs)
    else:
        requests = _text(given[data[0]])
    return runner.answer(call, requests)


def ai_filter_body(shipped: ShippedConfig, signature: Any, name: str) -> UdfBody:
    """``ai_filter(content, condition [, endpoint])`` -> BOOLEAN, bound as on the embedded
    engine (its ``ai_query`` form, prompt and yes/no reading)."""

    def ai_filter(content: pa.Array, condition: pa.Array, endpoint: pa.Array = None) -> pa.Array:
        runner = runtime(shipped)
        arguments: list[exp.Expression] = [exp.column("__li_content"), exp.column("__li_cond")]
        if endpoint is not None:
            arguments.append(_literal(_constant(_combined(endpoint), name, "endpoint")))
        node = exp.Anonymous(this="ai_filter", expressions=arguments)
        wrapped = semantic.rewrite(exp.select(node), _ExecutorEndpoints(runner))
        call = bind_ai_query(_find_ai_query(wrapped))
        texts = [
            None if c is None or k is None else semantic.filter_prompt(str(c), str(k))
            for c, k in zip(
                _combined(content).to_pylist(), _combined(condition).to_pylist(), strict=True
            )
        ]
        answers = runner.answer(call, pa.array(texts, pa.string()))
        return pa.array([semantic.yes_no(a) for a in answers.to_pylist()], pa.bool_())

    return ai_filter


def _find_ai_query(tree: exp.Expression) -> exp.Expression:
    for node in tree.find_all(exp.Anonymous):
        if str(node.this).lower() == "ai_query":
            return node
    raise AssertionError("ai_filter did not bind to ai_query")


class _ExecutorEndpoints:
    """What :func:`lakeinfer.sql.semantic.rewrite` asks about endpoints, on an executor."""

    def __init__(self, runner: ExecutorRuntime):
        self.runner = runner

    def task_of(self, endpoint: str) -> str | None:
        return self.runner.registry.task_of(endpoint)

    def takes_response_format(self, endpoint: str) -> bool:
        from lakeinfer.endpoints.openai_http import OpenAIProvider

        provider = self.runner.registry.get(endpoint)
        return isinstance(provider, OpenAIProvider) and provider.task == "chat"

    def task_endpoint(self) -> str:
        return str(self.runner.settings.get("task_endpoint"))


# -- arguments ------------------------------------------------------------------------------
def _combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _constant(values: pa.Array, name: str, argument: str) -> Any:
    """The one value of a literal argument (Spark repeats it on every row)."""
    rows = values.to_pylist() if len(values) else [None]
    if any(row != rows[0] for row in rows[1:]):
        raise AnalysisError(
            f"{name}: {argument} must be a literal, not a column whose value changes from row "
            f"to row"
        )
    return rows[0]


def _literal(value: Any) -> exp.Expression:
    """A literal argument back as SQL: strings, integers, ARRAY(...) and MAP(...)."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        # a MAP arrives as [(key, value), ...]
        return exp.Anonymous(this="map", expressions=[_literal(x) for pair in value for x in pair])
    if isinstance(value, list):
        return exp.Array(expressions=[_literal(v) for v in value])
    raise AnalysisError(f"a literal argument of type {type(value).__name__} is not supported")


def _text(values: pa.Array) -> pa.Array:
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())


def _pairs(columns: list[pa.Array], names: tuple[str, ...]) -> pa.Array:
    """The JSON request ``{"expr1": ..., "expr2": ...}`` of each row (NULL if any is NULL),
    as the embedded engine's ``to_json(struct(...))`` builds it."""
    rows = zip(*(_text(c).to_pylist() for c in columns), strict=True)
    return pa.array(
        [
            None if any(v is None for v in row) else json.dumps(dict(zip(names, row, strict=True)))
            for row in rows
        ],
        pa.string(),
    )


def _with_parameters(names: tuple[str, ...], answer: Callable[[dict], pa.Array]) -> UdfBody:
    """A function whose parameters are ``names`` (Spark's named arguments bind to them), the
    first required, the others optional."""
    first, *rest = names
    if not rest:

        def one(a: pa.Array) -> pa.Array:
            return answer({first: a})

        body: UdfBody = one
    elif len(rest) == 1:

        def two(a: pa.Array, b: pa.Array = None) -> pa.Array:
            return answer({first: a, rest[0]: b})

        body = two
    else:

        def three(a: pa.Array, b: pa.Array = None, c: pa.Array = None) -> pa.Array:
            return answer({first: a, rest[0]: b, rest[1]: c})

        body = three
    code = body.__code__
    body.__code__ = code.replace(co_varnames=(*names, *code.co_varnames[len(names) :]))
    body.__annotations__ = {**{n: "pa.Array" for n in names}, "return": "pa.Array"}
    return body
