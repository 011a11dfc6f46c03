"""The functions lakeinfer registers in Spark, as Arrow UDF bodies, one per return signature.

A Spark UDF has one fixed return type, while ``ai_query``'s type depends on its arguments
(``returnType``, ``failOnError``, the endpoint's task). So each :class:`Signature` is its own
registered function; the function checks on the executor that the call's arguments agree with
its signature and says which signature to register otherwise.

Adding a function is one entry in :data:`FUNCTIONS`: its name, and a factory that builds the
Python function Spark runs (named parameters are SQL's named arguments, case-sensitively).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from lakeinfer.errors import AnalysisError
from lakeinfer.spark.shipping import ShippedConfig
from lakeinfer.spark.tasks import ai_filter_body, task_body
from lakeinfer.spark.worker import runtime
from lakeinfer.sql.arguments import plain
from lakeinfer.sql.functions import DEFAULT_TEMPERATURE, AiQueryCall
from lakeinfer.sql.model_parameters import check_model_parameters
from lakeinfer.sql.response_format import response_format
from lakeinfer.sql.task_functions import TASK_FUNCTIONS
from lakeinfer.sql.types import ddl_to_arrow

#: the result type of each endpoint task when ``returnType`` is not given
TASK_DEFAULT_DDL = {"chat": "STRING", "embeddings": "ARRAY<FLOAT>"}
#: the result type of the task functions that do not return STRING
TASK_DDL = {"ai_similarity": "FLOAT"}


@dataclass(frozen=True)
class Signature:
    """What one registered function returns: ``return_ddl`` (the answer's Databricks type)
    wrapped in ``STRUCT<result, errorMessage>`` when ``fail_on_error`` is false."""

    return_ddl: str = "STRING"
    fail_on_error: bool = True

    def __post_init__(self) -> None:
        ddl_to_arrow(self.return_ddl)  # an AnalysisError naming the type when invalid

    @classmethod
    def of(cls, spec: Signature | dict[str, Any]) -> Signature:
        """From ``{"returnType": "DOUBLE", "failOnError": False}`` (SQL's argument names)."""
        if isinstance(spec, Signature):
            return spec
        unknown = set(spec) - {"returnType", "failOnError"}
        if unknown:
            raise AnalysisError(
                f"a signature takes returnType and failOnError, not {', '.join(sorted(unknown))}"
            )
        return cls(str(spec.get("returnType", "STRING")), bool(spec.get("failOnError", True)))

    @property
    def result_type(self) -> pa.DataType:
        return ddl_to_arrow(self.return_ddl)

    @property
    def spark_ddl(self) -> str:
        """The Spark DDL of the function's return type."""
        if self.fail_on_error:
            return self.return_ddl
        return f"STRUCT<result: {self.return_ddl}, errorMessage: STRING>"

    def same_result(self, ddl: str) -> bool:
        return ddl_to_arrow(ddl) == self.result_type

    def describe(self) -> str:
        return (
            f"returnType => '{self.return_ddl}', failOnError => {str(self.fail_on_error).lower()}"
        )

    def generated_name(self, function: str) -> str:
        """The name a signature gets when registered on demand (by the SQL rewrite)."""
        material = f"{function}|{self.result_type}|{self.fail_on_error}"
        return f"{function}_{hashlib.sha1(material.encode()).hexdigest()[:10]}"


UdfBody = Callable[..., pa.Array]


@dataclass(frozen=True)
class SparkFunction:
    """A function lakeinfer registers: its SQL name and the factory of its UDF body."""

    name: str
    body: Callable[[ShippedConfig, Signature, str], UdfBody]
    default: Signature = Signature()


def ai_query_body(shipped: ShippedConfig, signature: Signature, name: str) -> UdfBody:
    """The Arrow UDF body of ``ai_query`` for ``signature``, registered under ``name``."""

    def ai_query(
        endpoint: pa.Array,
        request: pa.Array,
        returnType: pa.Array = None,  # noqa: N803 - SQL's argument names
        failOnError: pa.Array = None,  # noqa: N803
        modelParameters: pa.Array = None,  # noqa: N803
        responseFormat: pa.Array = None,  # noqa: N803
    ) -> pa.Array:
        runner = runtime(shipped)
        call = bind_arrays(
            name,
            signature,
            endpoint,
            returnType,
            failOnError,
            modelParameters,
            responseFormat,
            task_of=runner.registry.task_of,
        )
        return runner.answer(call, request)

    return ai_query


def bind_arrays(
    name: str,
    signature: Signature,
    endpoint: pa.Array,
    return_type: pa.Array | None,
    fail_on_error: pa.Array | None,
    model_parameters: pa.Array | None,
    response_format_text: pa.Array | None,
    task_of: Callable[[str], str],
) -> AiQueryCall:
    """An :class:`AiQueryCall` from the UDF's argument columns (constants repeated per row),
    checked against the function's signature."""
    endpoint_name = _constant(endpoint, name, "endpoint")
    if not isinstance(endpoint_name, str):
        raise AnalysisError(f"{name}: endpoint must be a string literal")
    call = AiQueryCall(node=exp.Null(), endpoint=endpoint_name, request=exp.Null())
    call.fail_on_error = signature.fail_on_error
    given_type = _constant(return_type, name, "returnType")
    if given_type is not None and not signature.same_result(str(given_type)):
        raise _mismatch(name, signature, f"returnType => '{given_type}'")
    given_fail = _constant(fail_on_error, name, "failOnError")
    if given_fail is not None and bool(given_fail) != signature.fail_on_error:
        raise _mismatch(name, signature, f"failOnError => {str(bool(given_fail)).lower()}")
    if given_type is not None:
        call.return_ddl = str(given_type)
    else:
        task = task_of(endpoint_name)
        default = TASK_DEFAULT_DDL.get(task)
        if default is None:  # a custom model: the signature's type is its returnType
            call.return_ddl = signature.return_ddl
        elif not signature.same_result(default):
            raise _mismatch(
                name, signature, f"endpoint {endpoint_name!r} ({task} endpoint answering {default})"
            )
    parameters: dict[str, Any] = {}
    struct = _constant(model_parameters, name, "modelParameters")
    if struct is not None:
        if not isinstance(struct, dict):
            raise AnalysisError(f"{name}: modelParameters must be a named_struct(...)")
        parameters = {k: plain(v) for k, v in struct.items() if v is not None}
        parameters = check_model_parameters(parameters, f"{name}: modelParameters")
    text = _constant(response_format_text, name, "responseFormat")
    if text is not None:
        parameters["response_format"] = response_format(str(text))
    call.parameters = {"temperature": DEFAULT_TEMPERATURE, **parameters}
    return call


def _constant(values: pa.Array | None, name: str, argument: str) -> Any:
    """The one value of an argument that must be constant (None when not given)."""
    if values is None or len(values) == 0:
        return None
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    first = values[0].as_py()
    if len(values) > 1 and not isinstance(values, pa.StructArray):
        if pc.count_distinct(values, mode="all").as_py() > 1:
            raise AnalysisError(
                f"{name}: {argument} must be a constant (a literal), not a column whose value "
                f"changes from row to row"
            )
    return first


def _mismatch(name: str, signature: Signature, given: str) -> AnalysisError:
    return AnalysisError(
        f"{name} is registered in Spark with {signature.describe()} (it returns "
        f"{signature.spark_ddl}), so it cannot take {given}: a Spark function has one return "
        f"type. Run the statement through lakeinfer.spark.sql(spark, text) or "
        f"lakeinfer.spark.expr(text), which register a function per signature, or register "
        f"this one up front: lakeinfer.spark.register(spark, signatures={{'my_name': "
        f"{{...}}}}) and call my_name(...)"
    )


#: Every function ``register`` installs, by SQL name, with the signature it gets up front.
#: ai_extract with an ARRAY of labels returns a STRUCT of them, so it goes through the rewrite
#: (``lakeinfer.spark.sql``); registered up front it takes the JSON-schema form (STRING).
FUNCTIONS: dict[str, SparkFunction] = {
    "ai_query": SparkFunction("ai_query", ai_query_body),
    "ai_filter": SparkFunction("ai_filter", ai_filter_body, Signature("BOOLEAN")),
    **{
        name: SparkFunction(name, task_body(name), Signature(TASK_DDL.get(name, "STRING")))
        for name in TASK_FUNCTIONS
    },
}
