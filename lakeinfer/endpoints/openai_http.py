"""Any OpenAI-compatible HTTP server: vLLM, llama.cpp's server, Ollama, OpenAI, Databricks.

One shared :class:`aiohttp.ClientSession` per endpoint (connection reuse matters: a new TLS or
TCP connection per row costs more than the row). ``base_url`` follows the OpenAI SDK convention
and includes the version prefix, e.g. ``http://127.0.0.1:8000/v1``. Chat requests go to
``/chat/completions`` as one user message; embeddings to ``/embeddings`` in batches.

With ``stream=True`` (local servers: llama.cpp's) chat answers are streamed, and each chunk
tells the scheduler the request is making progress
(:func:`lakeinfer.runtime.deadlines.made_progress`): a slow answer is not cut off while its
tokens keep coming. A structured answer (a JSON ``response_format``) that stops at
``max_tokens`` is the row's error, naming the limit, rather than broken JSON to check.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from lakeinfer.endpoints import stale_connections
from lakeinfer.endpoints.base import (
    AIRequest,
    BatchAPI,
    Capabilities,
    Outcome,
    Provider,
    Task,
)
from lakeinfer.endpoints.http1 import ConnectionClosedError, Http1Client
from lakeinfer.runtime.answer_bounds import is_structured, truncated_answer
from lakeinfer.runtime.deadlines import made_progress

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
#: The endpoint asks the client to slow down (rate limit, overload).
THROTTLE_STATUS = frozenset({429, 503, 529})
EMBEDDING_BATCH = 64
USER_AGENT = "lakeinfer"


class OpenAIProvider(Provider):
    """Chat completions or embeddings against an OpenAI-compatible base URL.

    ``http://`` URLs are served by the lean keep-alive client of
    :mod:`lakeinfer.endpoints.http1` (``http1=False`` forces aiohttp), ``https://`` by aiohttp.
    """

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        model: str,
        task: Task = "chat",
        api_key: str | None = None,
        max_concurrency: int = 64,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        description: str = "",
        prefix_caching: bool = False,
        extra_body: dict[str, Any] | None = None,
        max_batch: int | None = None,
        http1: bool = True,
        stream: bool = False,
        transport_timeout_s: float | None = None,
    ):
        """``stream``: chat answers are streamed, so a slow answer that keeps coming is not
        timed out (see the module docstring). ``transport_timeout_s``: the HTTP clients' own
        limit (default ``timeout_s``); a larger one leaves the deadline to the scheduler,
        whose deadlines follow progress."""
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.task = task
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.description = description or f"{model} at {self.base_url}"
        self.capabilities = Capabilities(
            task=task,
            max_batch=(max_batch or EMBEDDING_BATCH) if task == "embeddings" else 1,
            max_concurrency=max_concurrency,
            prefix_caching=prefix_caching,
        )
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._transport_timeout_s = transport_timeout_s or timeout_s
        self._timeout = aiohttp.ClientTimeout(total=self._transport_timeout_s)
        self.stream = stream
        # a stream has no overall limit of its own (the scheduler caps it); this one is for
        # the time between two chunks
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_read=self._transport_timeout_s
        )
        self._extra_body = extra_body or {}
        self._session: aiohttp.ClientSession | None = None
        # plain-HTTP endpoints (local servers, where throughput is CPU-bound) get the lean
        # HTTP/1.1 client; TLS and everything else goes through aiohttp
        self._use_http1 = http1
        self._http1: Http1Client | None = None
        self._connect_to(self.base_url)

    def _connect_to(self, base_url: str) -> None:
        """Point the provider at ``base_url`` (again, after the server moved)."""
        self.base_url = base_url.rstrip("/")
        url = urlsplit(self.base_url)
        self._path = url.path
        self._origin = self.base_url[: len(self.base_url) - len(url.path)]
        self._http1 = None
        plain = url.scheme == "http" and url.hostname and not url.username and not url.query
        if self._use_http1 and plain:
            self._http1 = Http1Client(
                str(url.hostname),
                url.port or 80,
                {**self._headers, "Accept": "application/json", "User-Agent": USER_AGENT},
                self._transport_timeout_s,
            )

    @property
    def headers(self) -> dict[str, str]:
        """The headers each request carries (content type, bearer token when a key is set)."""
        return dict(self._headers)

    @property
    def extra_body(self) -> dict[str, Any]:
        """Fields added to every request body (e.g. ``cache_prompt`` for llama.cpp)."""
        return dict(self._extra_body)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.capabilities.max_concurrency, limit_per_host=0
            )
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # no cookie bookkeeping per response
            )
        return self._session

    async def infer(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        if self.task == "embeddings":
            return await self._embed(batch)
        return [await self._chat(request) for request in batch]

    async def _chat(self, request: AIRequest) -> Outcome:
        body = self.chat_body(request)
        if self.stream:
            answer = await self._post_stream("/chat/completions", body)
        else:
            answer = await self._post("/chat/completions", body)
        if isinstance(answer, Outcome):
            return answer
        return self.chat_outcome(answer, body)

    def chat_body(self, request: AIRequest) -> dict[str, Any]:
        """The body of the chat completion that asks ``request``."""
        # a list is a whole conversation (lakeinfer serve passes clients' messages through)
        messages = request.payload
        if not isinstance(messages, list):
            messages = [{"role": "user", "content": messages}]
        return {
            "model": self.model,
            "messages": messages,
            **self._extra_body,
            **request.parameters,
        }

    def chat_outcome(self, answer: Any, body: dict[str, Any] | None = None) -> Outcome:
        """The outcome a chat completion (a decoded JSON body) gives; ``body``, the request
        that asked it, tells whether a cut-off answer was a structured one."""
        try:
            choice = answer["choices"][0]
            content = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return Outcome(error=f"unexpected chat response: {_snippet(json.dumps(answer))}")
        if content is None:
            return Outcome(error=self._no_content(choice))
        usage = answer.get("usage") or {}
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        outcome = Outcome(
            value=content,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(cached or 0),
        )
        if body is not None and choice.get("finish_reason") == "length" and is_structured(body):
            return truncated_answer(outcome, body, self.repetition_controls(body))
        return outcome

    def repetition_controls(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The parameters that ask this endpoint again, after an answer that repeated itself
        up to ``max_tokens``, with a repetition penalty; None: asking again cannot help.

        None here: at temperature 0 the same request gives the same answer, and the penalty
        OpenAI's API has (``frequency_penalty``) is refused by some compatible endpoints and
        would also penalise the spans a structured answer copies from its input."""
        return None

    def batch_api(self) -> BatchAPI | None:
        """OpenAI's Files + Batches API under the same base URL (chat endpoints); whether the
        server really serves it is the endpoint's ``batch_mode`` in ``config.toml``."""
        if self.task != "chat":
            return None
        from lakeinfer.endpoints.openai_batch import OpenAIBatchAPI

        return OpenAIBatchAPI(self)

    def _no_content(self, choice: Any) -> str:
        """The error of a chat answer whose ``content`` is null (a refusal, a tool call, a
        filtered or truncated answer): the row gets no value rather than a silent NULL."""
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        message = f"endpoint {self.name!r} returned no content (finish_reason={finish})"
        refusal = (choice.get("message") or {}).get("refusal") if isinstance(choice, dict) else None
        if isinstance(refusal, str) and refusal:
            message += f": refusal: {_snippet(refusal)}"
        return message

    async def _embed(self, batch: Sequence[AIRequest]) -> list[Outcome]:
        # parameters are constant per call site, so one batch shares them
        params = batch[0].parameters if batch else {}
        params = {k: v for k, v in params.items() if k != "temperature"}
        body = {"model": self.model, "input": [r.payload for r in batch], **params}
        answer = await self._post("/embeddings", body)
        if isinstance(answer, Outcome):
            return [
                Outcome(
                    error=answer.error,
                    retryable=answer.retryable,
                    retry_after=answer.retry_after,
                    throttled=answer.throttled,
                    timed_out=answer.timed_out,
                    status=answer.status,
                )
                for _ in batch
            ]
        try:
            rows = sorted(answer["data"], key=lambda d: d.get("index", 0))
            vectors = [row["embedding"] for row in rows]
        except (KeyError, TypeError):
            return [
                Outcome(error=f"unexpected embeddings response: {_snippet(json.dumps(answer))}")
                for _ in batch
            ]
        if len(vectors) != len(batch):
            return [
                Outcome(
                    error=f"endpoint returned {len(vectors)} embeddings for {len(batch)} inputs"
                )
                for _ in batch
            ]
        prompt_tokens = int((answer.get("usage") or {}).get("prompt_tokens") or 0)
        share = prompt_tokens // max(len(batch), 1)
        return [Outcome(value=v, prompt_tokens=share) for v in vectors]

    async def _post_stream(self, path: str, body: dict[str, Any]) -> dict[str, Any] | Outcome:
        """POST a chat request as a stream; its chunks put together as one chat completion
        (content, finish_reason, usage), or an :class:`Outcome` error. Each chunk counts as
        progress; no chunk within ``timeout_s`` is a timeout."""
        url = self._origin + self._path + path
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        pieces: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        try:
            async with await stale_connections.post(
                self._client(), url, data=orjson.dumps(body), timeout=self._stream_timeout
            ) as response:
                if response.status >= 400:
                    raw = await response.read()
                    return _http_error(url, response.status, raw, response.headers)
                async for line in response.content:
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        break
                    made_progress()
                    chunk = orjson.loads(data)
                    if chunk.get("error") is not None:  # the server failed mid-answer
                        error = chunk["error"]
                        text = error.get("message") if isinstance(error, dict) else error
                        return Outcome(error=f"{url} failed mid-answer: {_snippet(str(text))}")
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or ():
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            pieces.append(piece)
                        finish = choice.get("finish_reason") or finish
        except TimeoutError:
            return Outcome(
                error=f"request to {url} timed out: no new token for "
                f"{self._transport_timeout_s:g}s",
                retryable=True,
                timed_out=True,
            )
        except orjson.JSONDecodeError:
            return Outcome(error=f"{url} streamed a malformed chunk", retryable=True)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
            return Outcome(error=f"{url} closed the connection without answering", retryable=True)
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(
                error=f"cannot reach {url}: {exc.__class__.__name__}: {exc}", retryable=True
            )
        if finish is None:
            return Outcome(
                error=f"{url} ended its stream before the answer was done", retryable=True
            )
        message = {"role": "assistant", "content": "".join(pieces)}
        return {"choices": [{"message": message, "finish_reason": finish}], "usage": usage}

    async def _post(
        self, path: str, body: dict[str, Any], *, from_root: bool = False
    ) -> dict[str, Any] | Outcome:
        """POST ``body`` to ``path`` under the base URL (``/v1``), or under the server's root
        with ``from_root`` (a runtime's own routes, such as llama-server's ``/slots``)."""
        target = path if from_root else self._path + path
        url = self._origin + target
        try:
            if self._http1 is not None:
                status, retry_after, raw = await self._http1.post(target, orjson.dumps(body))
            else:
                async with await stale_connections.post(
                    self._client(), url, data=orjson.dumps(body)
                ) as response:
                    raw = await response.read()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            return Outcome(
                error=f"request to {url} timed out after {self._transport_timeout_s:g}s",
                retryable=True,
                timed_out=True,
            )
        except (aiohttp.ServerDisconnectedError, ConnectionClosedError):
            return Outcome(error=f"{url} closed the connection without answering", retryable=True)
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(
                error=f"cannot reach {url}: {exc.__class__.__name__}: {exc}", retryable=True
            )
        if status >= 400:
            return _http_error(url, status, raw, {"Retry-After": retry_after})
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            # a success status with a broken body is a transport fault (a proxy cut the body
            # short, a reset mid-stream): asking again is likely to work
            return Outcome(
                error="endpoint returned malformed JSON: "
                + _snippet(raw.decode("utf-8", "replace")),
                retryable=True,
                status=status,
            )

    async def aclose(self) -> None:
        if self._http1 is not None:
            self._http1.close()
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _http_error(url: str, status: int, raw: bytes, headers: Any) -> Outcome:
    """The outcome of an HTTP error status (``headers``: a mapping with ``Retry-After``)."""
    text = raw.decode("utf-8", "replace")
    return Outcome(
        error=f"HTTP {status} from {url}: {_snippet(_error_text(text))}",
        retryable=status in RETRYABLE_STATUS,
        retry_after=_retry_after(headers.get("Retry-After")),
        throttled=status in THROTTLE_STATUS,
        status=status,
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_text(text: str) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the body itself."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        if isinstance(error, str):
            return error
    return text


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
