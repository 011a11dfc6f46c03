"""``ai_query(..., responseFormat => '...')``: the three Databricks forms, as OpenAI's
``response_format`` request field.

1. ``'{"type": "text"}'`` and ``'{"type": "json_object"}'`` are sent as they are.
2. ``'{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": true}}'``
   (OpenAI's envelope) is checked and sent as it is.
3. A DDL STRUCT, ``'STRUCT<summary: STRING, sentiment: STRING>'``, becomes a ``json_schema``
   envelope (strict; every field required; no other properties). As on Databricks, a STRUCT
   whose only field is itself a STRUCT is a wrapper: ``'STRUCT<review: STRUCT<stars: INT>>'``
   asks for ``{"stars": ...}`` and the wrapper's name becomes the schema's ``name``. Any other
   STRUCT (several fields, or one field of another type) describes the object itself.

A bare JSON schema (``'{"type": "object", "properties": ...}'``) is rejected, as Databricks
does (``AI_FUNCTION_UNSUPPORTED_RESPONSE_FORMAT``), with the envelope to wrap it in. The answer
stays the model's JSON text, a STRING; read it with ``from_json`` or ``:`` paths.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa

from lakeinfer.errors import AnalysisError
from lakeinfer.sql.ddl import parse_schema, to_json_schema

UNSUPPORTED = "AI_FUNCTION_UNSUPPORTED_RESPONSE_FORMAT"
DEFAULT_SCHEMA_NAME = "response"
_TYPES = ("text", "json_object", "json_schema")


def response_format(text: str, where: str = "") -> dict[str, Any]:
    """The OpenAI ``response_format`` for the ``responseFormat`` argument ``text``.

    ``where`` (`` at line L, column C``) is put into error messages, which always name the
    argument; every error is raised before any model is called.
    """
    what = f"ai_query{where}: responseFormat"
    stripped = text.strip()
    if not stripped:
        raise AnalysisError(f"{what} is empty; {_forms()}")
    if stripped.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnalysisError(
                f"{what} is not valid JSON (position {exc.pos + 1}: {exc.msg}); {_forms()}"
            ) from None
        return _checked_json(value, what)
    return _from_ddl(stripped, what)


def _forms() -> str:
    return (
        'use \'{"type": "json_object"}\', \'{"type": "json_schema", "json_schema": {"name": '
        '"...", "schema": {...}}}\' or a DDL STRUCT such as \'STRUCT<summary: STRING>\''
    )


def _checked_json(value: Any, what: str) -> dict[str, Any]:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in _TYPES:
        if isinstance(value, dict) and ("properties" in value or kind in ("object", "array")):
            raise AnalysisError(
                f"{what} is a bare JSON schema ({UNSUPPORTED}); wrap it in the envelope "
                '{"type": "json_schema", "json_schema": {"name": "response", "schema": '
                '<your schema>, "strict": true}}'
            )
        raise AnalysisError(f"{what}: unsupported type {kind!r} ({UNSUPPORTED}); {_forms()}")
    if kind == "json_schema":
        envelope = value.get("json_schema")
        if not isinstance(envelope, dict) or not isinstance(envelope.get("schema"), dict):
            raise AnalysisError(
                f'{what}: a "json_schema" response format needs "json_schema": {{"name": ..., '
                f'"schema": {{...}}}} ({UNSUPPORTED})'
            )
        name = envelope.get("name")
        if name is not None and not isinstance(name, str):
            raise AnalysisError(f'{what}: "json_schema.name" must be a string')
    return value


def _from_ddl(text: str, what: str) -> dict[str, Any]:
    dtype = parse_schema(text, what)
    if not pa.types.is_struct(dtype) or dtype.num_fields == 0:
        raise AnalysisError(
            f"{what}: a DDL response format must be a STRUCT with at least one field, got "
            f"{text!r} ({UNSUPPORTED})"
        )
    name = DEFAULT_SCHEMA_NAME
    if dtype.num_fields == 1 and pa.types.is_struct(dtype[0].type):
        # the wrapper Databricks' examples use; OpenAI names allow [A-Za-z0-9_-] only
        name, dtype = re.sub(r"[^A-Za-z0-9_-]", "_", dtype[0].name)[:64], dtype[0].type
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": to_json_schema(dtype), "strict": True},
    }
