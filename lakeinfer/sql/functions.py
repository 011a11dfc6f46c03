"""``ai_query(...)`` call sites: argument binding and validation, from the AST.

Databricks signature::

    ai_query(endpoint, request [, returnType] [, failOnError]
             [, modelParameters => named_struct(...)] [, responseFormat => '...'])

The first four may be positional; every argument may be named (``request => x``); a positional
argument after a named one is an error, as in Spark. ``endpoint``, ``returnType`` and
``failOnError`` must be literals, ``modelParameters`` a constant struct: all are checked here
(the arguments by :mod:`lakeinfer.sql.arguments`, from :data:`SIGNATURE`), before any model is
called.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.arguments import Kind, Parameter, Signature, bind, plain
from lakeinfer.sql.model_parameters import check_model_parameters
from lakeinfer.sql.parse import position_of
from lakeinfer.sql.response_format import response_format
from lakeinfer.sql.types import ddl_to_arrow

if TYPE_CHECKING:
    from lakeinfer.sql.task_specs import TaskSpec

AI_QUERY = "ai_query"
SIGNATURE = Signature(
    AI_QUERY,
    (
        Parameter("endpoint", Kind.STRING, required=True, aliases=("endpointName",)),
        Parameter("request", required=True),
        Parameter("returnType", Kind.STRING),
        Parameter("failOnError", Kind.BOOLEAN),
        Parameter("modelParameters", Kind.CONSTANT, positional=False),
        Parameter("responseFormat", Kind.STRING, positional=False),
    ),
    unknown_hint=" (a system prompt goes into the request text)",
)
DEFAULT_TEMPERATURE = 0.0


@dataclass
class AiQueryCall:
    """One bound ``ai_query`` call site."""

    node: exp.Expression
    endpoint: str
    request: exp.Expression
    return_ddl: str | None = None
    fail_on_error: bool = True
    parameters: dict[str, Any] = field(default_factory=dict)
    #: a task function (ai_summarize, ...): its prompt, answer format and result; its
    #: ``endpoint`` is empty until the evaluator picks the session's task endpoint
    task: TaskSpec | None = None

    def result_type(self, task: str) -> pa.DataType:
        """The Arrow type of a successful answer (before the failOnError envelope)."""
        if self.task is not None:
            return self.task.result_type
        if self.return_ddl is not None:
            return ddl_to_arrow(self.return_ddl)
        return pa.list_(pa.float32()) if task == "embeddings" else pa.string()

    def output_type(self, task: str) -> pa.DataType:
        """The SQL type of the call: the result, or STRUCT<result, errorMessage>."""
        result = self.result_type(task)
        if self.fail_on_error:
            return result
        return pa.struct([pa.field("result", result), pa.field("errorMessage", pa.string())])

    def cache_key_prefix(self) -> tuple[str, str | None, str]:
        """What, beside the request value, makes two calls identical."""
        parameters = json.dumps(self.parameters, sort_keys=True)
        if self.task is not None:
            parameters += self.task.key
        return (self.endpoint, self.return_ddl, parameters)


def is_ai_query(node: exp.Expression) -> bool:
    """An ``ai_query`` call or a task function (``ai_summarize``, ...), which binds to one."""
    if not isinstance(node, exp.Anonymous):
        return False
    name = str(node.this).lower()
    if name == AI_QUERY:
        return True
    from lakeinfer.sql.task_functions import PARAMETERS

    return name in PARAMETERS


def bind_ai_query(node: exp.Expression) -> AiQueryCall:
    """Bind the arguments of an ``ai_query`` node (or of a task function, see
    :mod:`lakeinfer.sql.task_functions`); :class:`AnalysisError` on any misuse."""
    if str(node.this).lower() != AI_QUERY:
        from lakeinfer.sql.task_functions import bind_task

        request, spec = bind_task(node)
        params: dict[str, Any] = {"temperature": DEFAULT_TEMPERATURE, **spec.parameters}
        if spec.response_format is not None:
            params["response_format"] = spec.response_format
        return AiQueryCall(node=node, endpoint="", request=request, parameters=params, task=spec)
    where = position_of(node)
    args = bind(node, SIGNATURE)
    call = AiQueryCall(node=node, endpoint=args["endpoint"], request=args["request"])
    if "returnType" in args:
        call.return_ddl = args["returnType"]
        try:
            ddl_to_arrow(call.return_ddl)  # validate now, before any call
        except AnalysisError as exc:
            raise AnalysisError(f"ai_query{where}: returnType: {exc}") from None
    if "failOnError" in args:
        call.fail_on_error = args["failOnError"]
    parameters: dict[str, Any] = {}
    if "modelParameters" in args:
        what = f"ai_query{where}: modelParameters"
        parameters = check_model_parameters(constant_struct(args["modelParameters"], what), what)
    if "responseFormat" in args:
        parameters["response_format"] = response_format(args["responseFormat"], where)
    call.parameters = {"temperature": DEFAULT_TEMPERATURE, **parameters}
    return call


#: a constant needs no file, extension or network
_CONSTANTS_ONLY = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def constant_struct(node: exp.Expression, what: str) -> dict[str, Any]:
    """Evaluate a ``named_struct(...)`` bound as a constant (see
    :class:`~lakeinfer.sql.arguments.Kind`) to a dict, without files, extensions or network."""
    if not isinstance(node, exp.Struct):
        raise AnalysisError(
            f"{what} must be a named_struct(...), got {node.sql(dialect='databricks')}"
        )
    try:
        with duckdb.connect(config=_CONSTANTS_ONLY) as con:
            value = con.execute(f"SELECT {node.sql(dialect='duckdb')} AS v").fetchone()
    except duckdb.Error as exc:
        raise AnalysisError(f"{what} cannot be evaluated: {exc}") from None
    result = value[0] if value else None
    if not isinstance(result, dict):
        raise AnalysisError(f"{what} must be a named_struct(...)")
    return {k: plain(v) for k, v in result.items() if v is not None}
