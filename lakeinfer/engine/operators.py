"""Binds the semantic operators of one statement: ``ai_filter`` / ``ai_embed`` become
``ai_query`` calls (:mod:`lakeinfer.sql.semantic`) and every ``ai_agg`` becomes a DuckDB
function over the group's sorted ``list(content)`` that runs the hierarchical reduction
(:mod:`lakeinfer.engine.ai_agg`) for the statement's duration."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa
from duckdb import sqltypes
from duckdb.func import FunctionNullHandling, PythonUDFType
from sqlglot import exp

from lakeinfer.engine.ai_agg import AiAggregate
from lakeinfer.engine.ai_eval import AiEvaluator
from lakeinfer.errors import AnalysisError, LakeinferError
from lakeinfer.sql import semantic
from lakeinfer.sql.arguments import Kind, Parameter, Signature, bind
from lakeinfer.sql.parse import position_of

_ids = itertools.count()
AGGREGATE = Signature(
    "ai_agg",
    (semantic.CONTENT, Parameter("instruction", Kind.STRING, required=True), semantic.ENDPOINT),
)


class OperatorEndpoints:
    """What the operator rewrites need to know about endpoints, from the statement's evaluator."""

    def __init__(self, ai: AiEvaluator | None, start_providers: bool = True):
        self.ai = ai
        #: False: never start an endpoint's provider (describing a query calls no model)
        self.start_providers = start_providers

    def task_of(self, endpoint: str) -> str | None:
        """The endpoint's task; None when unknown (no session: describing only)."""
        return self.ai.registry.task_of(endpoint) if self.ai is not None else None

    def takes_response_format(self, endpoint: str) -> bool:
        """OpenAI-compatible chat endpoints (HTTP and the embedded llama.cpp server) take
        ``response_format``; in-process and custom providers do not."""
        if self.ai is None or not self.start_providers:
            return False
        from lakeinfer.endpoints.openai_http import OpenAIProvider

        provider = self.ai.registry.get(endpoint)
        return isinstance(provider, OpenAIProvider) and provider.task == "chat"

    def task_endpoint(self) -> str:
        if self.ai is not None:
            try:
                configured = self.ai.settings.get("task_endpoint")
            except AnalysisError:  # a build without that setting
                configured = None
            if configured:
                return str(configured)
        return semantic.DEFAULT_CHAT_ENDPOINT


@contextmanager
def bound_operators(
    con: duckdb.DuckDBPyConnection,
    tree: exp.Expression,
    ai: AiEvaluator | None,
    endpoints: OperatorEndpoints | None = None,
) -> Iterator[exp.Expression]:
    """``tree`` with its operators bound; the ``ai_agg`` functions exist inside the block. A
    model failure inside an ``ai_agg`` is raised as itself, not as DuckDB's wrapper."""
    endpoints = endpoints or OperatorEndpoints(ai)
    tree = semantic.rewrite(tree, endpoints)
    registered: list[str] = []
    failures: list[LakeinferError] = []
    try:
        nodes = [n for n in tree.find_all(exp.Anonymous) if semantic.is_operator(n, "ai_agg")]
        for node in nodes:
            name = f"__li_agg_{next(_ids)}"
            content = _bind_aggregate(con, node, name, ai, endpoints, failures)
            registered.append(name)
            node.replace(
                exp.Anonymous(
                    this=name,
                    # sorted: the same rows make the same prompts (and cache hits) every run
                    expressions=[
                        exp.Anonymous(
                            this="list_sort",
                            expressions=[exp.Anonymous(this="list", expressions=[content])],
                        )
                    ],
                )
            )
        try:
            yield tree
        except Exception:
            if failures:
                raise failures[0] from None
            raise
    finally:
        for name in registered:
            con.remove_function(name)


def _bind_aggregate(
    con: duckdb.DuckDBPyConnection,
    node: exp.Anonymous,
    name: str,
    ai: AiEvaluator | None,
    endpoints: OperatorEndpoints,
    failures: list[LakeinferError],
) -> exp.Expression:
    """Register the reduction of one ``ai_agg`` call as ``name``; returns its content
    expression (as text)."""
    where = position_of(node)
    args = bind(node, AGGREGATE)
    endpoint = args["endpoint"] if "endpoint" in args else endpoints.task_endpoint()
    if endpoints.task_of(endpoint) not in ("chat", None):
        raise AnalysisError(f"ai_agg{where}: endpoint {endpoint!r} is not a chat endpoint")
    aggregate = AiAggregate(ai, node, endpoint, args["instruction"]) if ai is not None else None

    def reduce(lists: pa.Array) -> pa.Array:
        if aggregate is None:  # describing a query: no model is called
            return pa.nulls(len(lists), pa.string())
        try:
            return pa.array(aggregate.reduce(lists.to_pylist()), pa.string())
        except LakeinferError as error:
            failures.append(error)  # DuckDB re-raises it as its own error type
            raise

    con.create_function(
        name,
        reduce,
        [duckdb.list_type(sqltypes.VARCHAR)],
        sqltypes.VARCHAR,
        type=PythonUDFType.ARROW,
        null_handling=FunctionNullHandling.SPECIAL,
        exception_handling=duckdb.PythonExceptionHandling.DEFAULT,
        side_effects=True,
    )
    return exp.cast(args["content"].copy(), "VARCHAR")
