"""Custom models logged with MLflow (``mlflow.pyfunc``), run in this process.

Requests reach the model the way Databricks Model Serving sends ``dataframe_records``: a
``named_struct('f1', col1, ...)`` request is one record ``{"f1": ..., ...}``, a plain value is a
record of the signature's only input column. A batch of records becomes one pandas DataFrame and
one ``predict`` call. The model's signature gives ``ai_query`` its return type; without one,
``returnType`` is required. Records whose fields do not match the signature fail on their own
row, naming the missing and unexpected fields.
"""

from __future__ import annotations

import warnings
from typing import Any

from lakeinfer.endpoints.base import Capabilities
from lakeinfer.endpoints.in_process import InProcessProvider, RowError
from lakeinfer.errors import RuntimeUnavailableError
from lakeinfer.sql.ddl import quote_field

MLFLOW_BATCH = 256
#: mlflow.types.DataType names -> Databricks types
_TYPES = {
    "boolean": "BOOLEAN",
    "integer": "INT",
    "long": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "STRING",
    "binary": "BINARY",
    "datetime": "TIMESTAMP",
}
#: numpy dtype kinds of tensor specs -> Databricks types
_NUMPY = {
    "bool": "BOOLEAN",
    "int32": "INT",
    "int64": "BIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
    "object": "STRING",
    "str": "STRING",
}


def _mlflow() -> Any:
    try:
        import mlflow.pyfunc
    except ImportError:
        raise RuntimeUnavailableError(
            "MLflow is not installed: pip install 'lakeinfer[mlflow]'"
        ) from None
    return mlflow


class MlflowProvider(InProcessProvider):
    """An MLflow pyfunc model at ``model_uri`` (a path, ``file:``, ``runs:/`` or ``models:/``)."""

    def __init__(self, name: str, model_uri: str, *, max_batch: int = MLFLOW_BATCH):
        super().__init__()
        self.name = name
        self.model_uri = model_uri
        self.description = f"MLflow model {model_uri}"
        self.capabilities = Capabilities(task="custom", max_batch=max_batch, max_concurrency=1)
        mlflow = _mlflow()
        try:
            info = mlflow.models.get_model_info(model_uri)
        except Exception as exc:
            raise RuntimeUnavailableError(
                f"endpoint {name!r}: cannot read the MLflow model at {model_uri}: {exc}"
            ) from None
        self.signature = info.signature
        self.input_names: list[str] | None = None
        self.input_types: dict[str, str] = {}
        if self.signature is not None and self.signature.inputs is not None:
            if self.signature.inputs.has_input_names():
                self.input_names = list(self.signature.inputs.input_names())
                for spec in self.signature.inputs.inputs:
                    self.input_types[spec.name] = signature_type(spec) or "?"
        if self.signature is not None and self.signature.outputs is not None:
            self.return_ddl = schema_to_ddl(self.signature.outputs)
        self._model: Any = None

    def load(self) -> None:
        if self._model is None:
            with warnings.catch_warnings():
                # MLflow's advice to model authors (type hints, input examples) is noise here
                warnings.simplefilter("ignore", UserWarning)
                self._model = _mlflow().pyfunc.load_model(self.model_uri)

    def predict(self, payloads: list[Any], parameters: dict[str, Any]) -> list[Any]:
        import pandas as pd

        records = [self._record(payload) for payload in payloads]
        frame = pd.DataFrame.from_records(records)
        params = self._params(parameters)
        if params:
            answer = self._model.predict(frame, params=params)
        else:
            answer = self._model.predict(frame)
        return predictions(answer, len(records))

    def _record(self, payload: Any) -> dict[str, Any]:
        names = self.input_names
        if not isinstance(payload, dict):
            if names is None:
                return {0: payload}
            if len(names) == 1:
                return {names[0]: payload}
            raise RowError(
                f"the model takes a record with fields {self._expected()}; send "
                f"named_struct({', '.join(repr(n) + ', ...' for n in names)})"
            )
        if names is not None:
            missing = [n for n in names if n not in payload]
            extra = [k for k in payload if k not in names]
            if missing or extra:
                parts = []
                if missing:
                    parts.append("missing " + ", ".join(missing))
                if extra:
                    parts.append("unexpected " + ", ".join(extra))
                raise RowError(
                    f"the request's fields ({', '.join(payload) or 'none'}) do not match the "
                    f"model signature's inputs ({self._expected()}): {'; '.join(parts)}"
                )
        return payload

    def _expected(self) -> str:
        return ", ".join(f"{n}: {self.input_types.get(n, '?')}" for n in self.input_names or [])

    def _params(self, parameters: dict[str, Any]) -> dict[str, Any]:
        spec = self.signature.params if self.signature is not None else None
        if not spec:
            return {}
        known = {p.name for p in spec.params}
        return {k: v for k, v in parameters.items() if k in known}


def predictions(answer: Any, rows: int) -> list[Any]:
    """One prediction per row from what ``predict`` returned (DataFrame, Series, array, list):
    a one-column frame gives its values, a wider one a record per row."""
    if hasattr(answer, "columns") and hasattr(answer, "to_dict"):  # DataFrame
        if len(answer.columns) == 1:
            return list(answer.iloc[:, 0])
        return answer.to_dict(orient="records")
    if hasattr(answer, "tolist"):  # Series, ndarray
        return list(answer.tolist())
    if isinstance(answer, dict) and rows == 1:
        return [answer]
    if isinstance(answer, (list, tuple)):
        return list(answer)
    raise RowError(f"the model returned {type(answer).__name__}, not one prediction per row")


def signature_type(spec: Any) -> str | None:
    """The Databricks type of one column or tensor spec of an MLflow schema."""
    from mlflow.types.schema import Array, ColSpec, Object, TensorSpec

    if isinstance(spec, TensorSpec):
        inner = _NUMPY.get(str(spec.type))
        if inner is None:
            return None
        extra_dims = len(spec.shape) - 1 if spec.shape else 0
        for _ in range(max(0, extra_dims)):
            inner = f"ARRAY<{inner}>"
        return inner
    kind = spec.type if isinstance(spec, ColSpec) else spec
    if isinstance(kind, Array):
        inner = signature_type(kind.dtype)
        return f"ARRAY<{inner}>" if inner else None
    if isinstance(kind, Object):
        fields = []
        for prop in kind.properties:
            inner = signature_type(prop.dtype)
            if inner is None:
                return None
            fields.append(f"{quote_field(prop.name)}: {inner}")
        return f"STRUCT<{', '.join(fields)}>"
    name = getattr(kind, "name", str(kind))
    return _TYPES.get(name)


def schema_to_ddl(schema: Any) -> str | None:
    """The return type an output schema describes: its only column's type, or a STRUCT of its
    named columns; None where a type has no Databricks equivalent."""
    specs = list(schema.inputs)
    if not specs:
        return None
    if len(specs) == 1:
        return signature_type(specs[0])
    fields = []
    for index, spec in enumerate(specs):
        inner = signature_type(spec)
        if inner is None:
            return None
        fields.append(f"{quote_field(spec.name or f'_{index}')}: {inner}")
    return f"STRUCT<{', '.join(fields)}>"
