"""The HTTP routes of ``lakeinfer serve``: OpenAI-compatible and Databricks Model Serving.

Routes (``{name}`` is a lakeinfer endpoint; OpenAI routes take it as ``model``):

* ``GET  /v1/models``
* ``POST /v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``
* ``POST /serving-endpoints/{name}/invocations``: ``messages`` / ``prompt`` for chat
  endpoints, ``input`` for embeddings, ``dataframe_records`` / ``dataframe_split`` /
  ``inputs`` / ``instances`` for custom models (answered ``{"predictions": [...]}``)
* ``POST /serving-endpoints/chat/completions``, ``/serving-endpoints/embeddings``: the
  OpenAI-compatible base URL Databricks workspaces offer, so lakeinfer's own Databricks
  routing can point at a lakeinfer server.

Every request goes through the same scheduler as ``ai_query`` (batches of the endpoint's
``max_batch``, its concurrency, retries and timeouts). Handlers run on the session's event loop,
where the providers live. Every route first passes the server's guard
(:mod:`lakeinfer.serving.guard`): a loopback Host, no foreign Origin, and (unless the server was
started without one) ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from lakeinfer.endpoints.base import AIRequest, Outcome
from lakeinfer.errors import LakeinferError, UnknownEndpointError
from lakeinfer.redaction import redact
from lakeinfer.runtime.scheduler import run_requests
from lakeinfer.serving.guard import Guard

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: request fields that are not model parameters
_NOT_PARAMETERS = frozenset({"model", "messages", "prompt", "input", "stream", "n", "user"})
_ids = itertools.count(1)


class ServedEndpoints:
    """The endpoints a server exposes and how to call them (on the session's loop)."""

    def __init__(self, session: Any, names: list[str] | None = None):
        self.session = session
        registry = session.registry
        self.names = sorted(names) if names else registry.names()
        for name in self.names:
            registry.task_of(name)  # unknown names fail at start, not on first request

    def task_of(self, name: str) -> str:
        if name not in self.names:
            raise UnknownEndpointError(name, self.names)
        return self.session.registry.task_of(name)

    async def call(
        self, name: str, payloads: list[Any], parameters: dict[str, Any]
    ) -> list[Outcome]:
        """Answer ``payloads`` with endpoint ``name``, in order."""
        registry = self.session.registry
        provider = registry.get(name)
        limits = self.session.settings.limits(name, registry.limits_of(name))
        outcomes: dict[int, Outcome] = {}
        items = [(i, AIRequest(p, parameters)) for i, p in enumerate(payloads)]
        await run_requests(provider, items, lambda k, o: outcomes.__setitem__(k, o), limits=limits)
        return [outcomes[i] for i in range(len(payloads))]


class BadRequest(Exception):
    """The client sent something this route cannot take (HTTP 400)."""


#: the OpenAI error type of each refusal status
_REFUSAL_KINDS = {401: "authentication_error", 403: "permission_error"}


def build_app(endpoints: ServedEndpoints, guard: Guard) -> web.Application:
    """The aiohttp application serving ``endpoints``; ``guard`` checks every request first."""

    @web.middleware
    async def checked(request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = guard.refusal(request.headers)
        if refusal is not None:
            kind = _REFUSAL_KINDS.get(refusal.status, "invalid_request_error")
            return _error(refusal.status, refusal.message, kind)
        try:
            return await handler(request)
        except BadRequest as exc:
            return _error(400, str(exc), "invalid_request_error")
        except UnknownEndpointError as exc:
            return _error(404, str(exc), "not_found_error")
        except LakeinferError as exc:
            return _error(400, str(exc), "invalid_request_error")

    async def models(request: web.Request) -> web.Response:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "lakeinfer"}
            for name in endpoints.names
        ]
        return web.json_response({"object": "list", "data": data})

    async def chat(request: web.Request) -> web.Response:
        body = await _body(request)
        name = _model(body)
        return await _chat(name, body)

    async def _chat(name: str, body: dict[str, Any]) -> web.Response:
        _expect(endpoints.task_of(name), "chat", name, "chat completions")
        _no_stream(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty list of {role, content}")
        (outcome,) = await endpoints.call(name, [messages], _parameters(body))
        _raise_failure(name, [outcome])
        return web.json_response(
            {
                "id": f"chatcmpl-{next(_ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": name,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": outcome.value},
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage([outcome]),
            }
        )

    async def completions(request: web.Request) -> web.Response:
        body = await _body(request)
        name = _model(body)
        _expect(endpoints.task_of(name), "chat", name, "completions")
        _no_stream(body)
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise BadRequest("'prompt' must be a string or a list of strings")
        # each prompt is answered as one user message by the endpoint's chat model
        outcomes = await endpoints.call(name, prompts, _parameters(body))
        _raise_failure(name, outcomes)
        choices = [
            {"index": i, "text": o.value, "finish_reason": "stop", "logprobs": None}
            for i, o in enumerate(outcomes)
        ]
        return web.json_response(
            {
                "id": f"cmpl-{next(_ids)}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": name,
                "choices": choices,
                "usage": _usage(outcomes),
            }
        )

    async def embeddings(request: web.Request) -> web.Response:
        body = await _body(request)
        return await _embeddings(_model(body), body)

    async def _embeddings(name: str, body: dict[str, Any]) -> web.Response:
        _expect(endpoints.task_of(name), "embeddings", name, "embeddings")
        given = body.get("input")
        texts = [given] if isinstance(given, str) else given
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise BadRequest("'input' must be a string or a non-empty list of strings")
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise BadRequest("encoding_format must be 'float' or 'base64'")
        outcomes = await endpoints.call(name, texts, {})
        _raise_failure(name, outcomes)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": o.value if encoding == "float" else _base64(o.value),
            }
            for i, o in enumerate(outcomes)
        ]
        return web.json_response(
            {"object": "list", "data": data, "model": name, "usage": _usage(outcomes)}
        )

    async def invocations(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await _body(request)
        task = endpoints.task_of(name)
        if task == "chat":
            if "prompt" in body and "messages" not in body:
                body = {**body, "messages": [{"role": "user", "content": body["prompt"]}]}
            return await _chat(name, body)
        if task == "embeddings":
            return await _embeddings(name, body)
        rows = _records(body)
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise BadRequest("'params' must be an object")
        outcomes = await endpoints.call(name, rows, params)
        _raise_failure(name, outcomes)
        return web.json_response({"predictions": [o.value for o in outcomes]})

    async def databricks_chat(request: web.Request) -> web.Response:
        return await chat(request)

    app = web.Application(middlewares=[checked], client_max_size=64 * 1024 * 1024)
    app.add_routes(
        [
            web.get("/v1/models", models),
            web.post("/v1/chat/completions", chat),
            web.post("/v1/completions", completions),
            web.post("/v1/embeddings", embeddings),
            web.post("/serving-endpoints/chat/completions", databricks_chat),
            web.post("/serving-endpoints/embeddings", embeddings),
            web.post("/serving-endpoints/{name}/invocations", invocations),
        ]
    )
    return app


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' (the lakeinfer endpoint name) is required")
    return model


def _expect(task: str, wanted: str, name: str, route: str) -> None:
    if task != wanted:
        raise BadRequest(f"endpoint {name!r} is a {task} endpoint; it does not serve {route}")


def _no_stream(body: dict[str, Any]) -> None:
    if body.get("stream"):
        raise BadRequest("streaming is not supported; send stream=false")
    if body.get("n", 1) != 1:
        raise BadRequest("only n=1 is supported")


def _parameters(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _NOT_PARAMETERS and v is not None}


def _records(body: dict[str, Any]) -> list[Any]:
    """The rows of a Databricks custom-model request, one value or record each."""
    if "dataframe_records" in body:
        rows = body["dataframe_records"]
        if not isinstance(rows, list):
            raise BadRequest("'dataframe_records' must be a list of objects")
        return rows
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        if not isinstance(split, dict) or "columns" not in split or "data" not in split:
            raise BadRequest("'dataframe_split' must be {'columns': [...], 'data': [[...]]}")
        columns = split["columns"]
        if any(len(row) != len(columns) for row in split["data"]):
            raise BadRequest(f"every row of 'dataframe_split' needs {len(columns)} values")
        return [dict(zip(columns, row, strict=True)) for row in split["data"]]
    for key in ("inputs", "instances"):
        if key in body:
            rows = body[key]
            if isinstance(rows, dict):  # columnar: {"col": [v, ...], ...}
                columns, lengths = list(rows), {len(v) for v in rows.values()}
                if len(lengths) > 1:
                    raise BadRequest(f"the columns of '{key}' have different lengths")
                return [
                    dict(zip(columns, values, strict=True))
                    for values in zip(*rows.values(), strict=True)
                ]
            if not isinstance(rows, list):
                raise BadRequest(f"'{key}' must be a list")
            return rows
    raise BadRequest(
        "expected one of 'dataframe_records', 'dataframe_split', 'inputs' or 'instances'"
    )


def _raise_failure(name: str, outcomes: list[Outcome]) -> None:
    for index, outcome in enumerate(outcomes):
        if not outcome.ok:
            where = f" (input {index})" if len(outcomes) > 1 else ""
            raise BadRequest(f"endpoint {name!r} failed{where}: {outcome.error}")


def _base64(vector: list[float]) -> str:
    """little-endian float32, base64: what the openai client asks for by default"""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _usage(outcomes: list[Outcome]) -> dict[str, int]:
    prompt = sum(o.prompt_tokens for o in outcomes)
    completion = sum(o.completion_tokens for o in outcomes)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _error(status: int, message: str, kind: str) -> web.Response:
    # OpenAI's error shape; Databricks clients read "message" too
    message = redact(message)
    return web.json_response(
        {"error": {"message": message, "type": kind}, "message": message}, status=status
    )
