"""OpenAI's Files + Batches API for an OpenAI-compatible chat endpoint.

A batch input file holds one JSONL line per request, ``{"custom_id", "method": "POST", "url":
"/v1/chat/completions", "body"}``, uploaded with ``POST /files`` (multipart, ``purpose=batch``)
and submitted with ``POST /batches`` (``completion_window`` ``24h``). ``GET /batches/{id}``
reports the status (``validating``, ``in_progress``, ``finalizing``, ``completed``, or
``failed``, ``expired``, ``cancelling``, ``cancelled``); a finished batch names an
``output_file_id`` (answered lines) and an ``error_file_id`` (failed lines), read with
``GET /files/{id}/content``. Each line carries its ``custom_id``, a ``response`` (HTTP status
and body, as the online call would have returned) and an ``error``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import orjson

from lakeinfer.endpoints.base import AIRequest, BatchAPI, Outcome
from lakeinfer.endpoints.openai_http import (
    RETRYABLE_STATUS,
    _error_text,
    _snippet,
)
from lakeinfer.errors import EndpointError

if TYPE_CHECKING:
    from lakeinfer.endpoints.openai_http import OpenAIProvider

CHAT_URL = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
#: seconds one call of the batch API may take (an upload of a 200 MB file included)
API_TIMEOUT_S = 600.0


class OpenAIBatchAPI(BatchAPI):
    """The batch interface of one :class:`~lakeinfer.endpoints.openai_http.OpenAIProvider`
    (same base URL, key and connection pool)."""

    url = CHAT_URL

    def __init__(self, provider: OpenAIProvider):
        self.provider = provider
        self._timeout = aiohttp.ClientTimeout(total=API_TIMEOUT_S)

    def line(self, custom_id: str, request: AIRequest) -> bytes:
        body = self.provider.chat_body(request)
        data = {"custom_id": custom_id, "method": "POST", "url": CHAT_URL, "body": body}
        return orjson.dumps(data) + b"\n"

    def outcome(self, line: dict[str, Any]) -> Outcome:
        response = line.get("response")
        error = line.get("error")
        if isinstance(response, dict):
            status = response.get("status_code")
            body = response.get("body")
            if status == 200 and isinstance(body, dict) and not error:
                return self.provider.chat_outcome(body)
            if isinstance(status, int) and status >= 400:
                text = orjson.dumps(body).decode() if not isinstance(body, str) else body
                return Outcome(
                    error=f"HTTP {status} in batch line {line.get('custom_id')}: "
                    f"{_snippet(_error_text(text))}",
                    retryable=status in RETRYABLE_STATUS,
                    status=status,
                )
        if isinstance(error, dict):
            code = error.get("code") or "error"
            message = error.get("message") or ""
            # an expired or cancelled line was never answered: asking again may work
            return Outcome(error=f"batch line failed ({code}): {_snippet(message)}", retryable=True)
        return Outcome(
            error=f"unexpected batch output line: {_snippet(orjson.dumps(line).decode())}"
        )

    async def upload(self, data: bytes, filename: str) -> str:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", data, filename=filename, content_type="application/jsonl")
        answer = await self._call("POST", "/files", data=form)
        return str(answer["id"])

    async def create(self, file_id: str, metadata: dict[str, str]) -> dict[str, Any]:
        body = {
            "input_file_id": file_id,
            "endpoint": CHAT_URL,
            "completion_window": COMPLETION_WINDOW,
            "metadata": metadata,
        }
        return await self._call("POST", "/batches", json=body)

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/batches/{self._segment(batch_id)}")

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/batches/{self._segment(batch_id)}/cancel")

    async def content(self, file_id: str) -> bytes:
        return await self._call("GET", f"/files/{self._segment(file_id)}/content", raw=True)

    def _segment(self, identifier: str) -> str:
        """An id (a user's or one the provider returned) as one path segment of the API's
        URL: ``/``, ``?``, ``#`` or a ``..`` in it never address another route with the key
        attached."""
        text = str(identifier)
        if text.strip(".") == "":
            raise EndpointError(self.provider.name, f"not a batch or file id: {text!r}")
        return quote(text, safe="")

    async def _call(self, method: str, path: str, *, raw: bool = False, **options: Any) -> Any:
        """One call of the API: its JSON (or raw bytes); an EndpointError when it fails."""
        provider = self.provider
        url = provider.base_url + path
        headers = {k: v for k, v in provider.headers.items() if k != "Content-Type"}
        try:
            # a client of its own: the provider's pool sends every request as JSON
            async with (
                aiohttp.ClientSession(headers=headers, timeout=self._timeout) as client,
                client.request(method, url, **options) as response,
            ):
                data = await response.read()
                status = response.status
        except TimeoutError:
            raise EndpointError(
                provider.name, f"the batch API at {url} did not answer within {API_TIMEOUT_S:g}s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise EndpointError(
                provider.name, f"cannot reach the batch API at {url}: {exc.__class__.__name__}"
            ) from None
        if status >= 400:
            text = data.decode("utf-8", "replace")
            raise EndpointError(
                provider.name, f"HTTP {status} from {method} {url}: {_snippet(_error_text(text))}"
            )
        if raw:
            return data
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise EndpointError(
                provider.name, f"the batch API at {url} returned malformed JSON"
            ) from None
