"""A small OpenAI-compatible server for tests, demos and benchmarks; it counts what it serves.

It answers ``POST /v1/chat/completions`` with ``"echo: <prompt>"`` (as server-sent events, one
word per chunk, under ``"stream": true``; JSON that fits the request's ``response_format`` when
it asks for ``json_object`` or ``json_schema``, an enum answered with one of its values picked by
the prompt's hash) and ``POST /v1/embeddings`` with a deterministic
8-dimensional vector per input, after an optional fixed latency. A prompt containing
``[[status:NNN]]`` is answered with that HTTP status instead, so tests can exercise per-row
failures. A prompt containing ``[[answer:TEXT]]`` is answered with TEXT (inside the requested
JSON when the request has a response format whose enum holds TEXT), so tests can give rows
chosen answers (yes/no for ``ai_filter``). A prompt containing ``[[no-content]]`` is answered
with ``"content": null`` (``finish_reason`` ``content_filter``), as a filtered answer is.

Two markers play a model that misbehaves slowly. ``[[repeat:TEXT]]`` under a JSON response
format is a model looping under its grammar: ``{"items": ["TEXT", "TEXT", ...`` one item per
token until the request's ``max_tokens`` (``finish_reason`` ``length``), or without end when it
sets none; ``[[endless:TEXT]]`` loops without end whatever it sets, as a server that ignores it.
A request with a repetition penalty (``repeat_penalty`` > 1, ``frequency_penalty`` > 0) breaks
the loop and gets the normal answer. ``[[slow-tokens:MS]]`` is a slow but working model: its
answer takes MS milliseconds per word, streamed as each word is made (a plain request gets it
all at the end). ``[[queued:MS]]`` is a request waiting MS milliseconds for a slot of a busy
server: nothing of its answer comes meanwhile, while ``GET /slots`` (as llama.cpp's server
has it) shows a slot decoding, its token count growing, whenever any chat request is in flight.

A packed prompt (several rows in one request, see :mod:`lakeinfer.engine.packing`) is answered
with the keyed JSON object it asks for, each row answered as its own prompt would be (echo,
``[[answer:TEXT]]``, the schema's instance), so packed and unpacked runs get the same answers.
A row containing ``[[pack:drop]]`` is left out of the answer, ``[[pack:garble]]`` gets an
answer of the wrong shape (a label that is not among the enum's, else a wrong JSON type),
``[[pack:extra]]`` adds a key beyond the rows, and ``[[pack:broken]]`` makes the whole answer
text that is not JSON; a row alone is answered normally whatever its markers.

With ``--fault-rate R`` (0..1) each request is, with probability R (drawn from a generator seeded
with ``--fault-seed``), answered with one fault picked at random: ``429`` (with
``Retry-After: 0.05``), ``503``, ``slow`` (a normal answer after ``--slow-ms``, meant to exceed a
client's timeout), ``drop`` (the connection is closed without an answer) or ``malformed`` (a 200
whose body is broken JSON). ``--fault-kinds 429,503`` limits the picks to those kinds.

A prompt containing ``[[echo-auth:NNN]]`` is answered with status NNN and the
``Authorization`` header it came with, as careless servers do: 401 as OpenAI's "Incorrect API
key provided: ..." error, another error status as a text body listing every header (and the
header URL-encoded), 200 as the answer's content. A request with a wrong token (when the
server requires one) gets a 401 that quotes the token it received.

It also serves OpenAI's Files + Batches API (``/v1/files``, ``/v1/batches``), with failures
injected by markers in the prompts: see :mod:`lakeinfer.testing.fake_batches`.

``GET /stats`` returns request counts, the bodies received, ``faults`` (count per kind),
``answered`` (per prompt, the normal answers given: faults and injected statuses excluded) and
``arrivals`` (the ``time.monotonic()`` of each chat request's arrival), both kept only
with bodies (not under ``--no-bodies``, which load runs use); ``POST /reset`` clears
them and re-seeds the fault generator. Start it in-process (:class:`FakeOpenAIServer`) or as its
own process::

    python -m lakeinfer.testing.fake_openai --port 8001 --latency-ms 50 --fault-rate 0.1

It binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
import urllib.request
from typing import Any
from urllib.parse import quote

from aiohttp import web

from lakeinfer.runtime.processes import stop_process
from lakeinfer.testing.fake_batches import batch_routes

STATUS_MARKER = re.compile(r"\[\[status:(\d{3})\]\]")
ECHO_AUTH_MARKER = re.compile(r"\[\[echo-auth:(\d{3})\]\]")
ANSWER_MARKER = re.compile(r"\[\[answer:([^\]]*)\]\]")
NO_CONTENT_MARKER = "[[no-content]]"
REPEAT_MARKER = re.compile(r"\[\[(repeat|endless):([^\]]*)\]\]")
SLOW_TOKENS_MARKER = re.compile(r"\[\[slow-tokens:(\d+)\]\]")
QUEUED_MARKER = re.compile(r"\[\[queued:(\d+)\]\]")
#: seconds per token of a runaway answer (fast enough to run away, slow enough to be cheap)
RUNAWAY_TOKEN_S = 0.002
PACK_MARKERS = ("[[pack:drop]]", "[[pack:garble]]", "[[pack:extra]]", "[[pack:broken]]")
FAULT_KINDS = ("429", "503", "slow", "drop", "malformed")
#: the environment variable :class:`FakeOpenAIServer` hands the server's token over in
TOKEN_VARIABLE = "LAKEINFER_FAKE_OPENAI_TOKEN"
THROTTLE_RETRY_AFTER = "0.05"


class _State:
    def __init__(
        self,
        latency_s: float,
        keep_bodies: bool,
        token: str | None,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        slow_s: float = 2.0,
        fault_kinds: tuple[str, ...] = FAULT_KINDS,
    ):
        self.latency_s = latency_s
        self.fault_kinds = fault_kinds
        self.keep_bodies = keep_bodies
        self.token = token
        self.fault_rate = fault_rate
        self.fault_seed = fault_seed
        self.slow_s = slow_s
        self.rng = random.Random(fault_seed)
        self.counts: dict[str, int] = {
            "chat": 0,
            "packed": 0,
            "embeddings": 0,
            "errors": 0,
            "max_in_flight": 0,
            # the batch API (fake_batches): files uploaded, batches created, lines answered
            "files": 0,
            "batches": 0,
            "batch_lines": 0,
        }
        self.faults: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)
        self.answered: dict[str, int] = {}
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        #: per prompt, the lines answered in batches (what a batch bills)
        self.batch_answered: dict[str, int] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        #: keep batches in_progress (a test kills its client meanwhile)
        self.hold_batches = False

    def pick_fault(self) -> str | None:
        """The fault this request gets, if it is picked for one."""
        if self.fault_rate and self.rng.random() < self.fault_rate:
            kind = self.rng.choice(self.fault_kinds)
            self.faults[kind] += 1
            return kind
        return None

    def reset(self) -> None:
        self.counts = dict.fromkeys(self.counts, 0)
        self.faults = dict.fromkeys(FAULT_KINDS, 0)
        self.answered.clear()
        self.arrivals.clear()
        self.bodies.clear()
        self.headers.clear()
        self.batch_answered.clear()
        self.files.clear()
        self.batches.clear()
        self.hold_batches = False
        self.rng = random.Random(self.fault_seed)


def _unauthorised(request: web.Request) -> web.Response:
    given = request.headers.get("Authorization", "").removeprefix("Bearer ")
    return web.json_response(
        {"error": {"message": f"Incorrect API key provided: {given}", "type": "auth"}},
        status=401,
    )


def _echo_auth(request: web.Request, status: int) -> web.Response | str:
    """The answer to ``[[echo-auth:NNN]]``: an error echoing the credentials, or (200) the
    answer's content echoing them."""
    auth = request.headers.get("Authorization", "")
    if status == 401:
        key = auth.removeprefix("Bearer ")
        message = f"Incorrect API key provided: {key}. Find your key at https://example.invalid"
        return web.json_response({"error": {"message": message}}, status=401)
    if status >= 400:
        headers = json.dumps(dict(request.headers))
        return web.Response(
            text=f"bad request; headers received: {headers}; retry at /v1?auth={quote(auth)}",
            status=status,
        )
    return f"you called with {auth}"


def embedding_for(text: str, dims: int = 8) -> list[float]:
    """The deterministic vector the fake server returns for ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255.0, 6) for b in digest[:dims]]


async def _fault_response(state: _State, kind: str, request: web.Request) -> web.Response | None:
    """The answer for fault ``kind``; None for ``slow``, which answers normally but late."""
    if kind == "429":
        return web.json_response(
            {"error": {"message": "rate limit exceeded (injected)"}},
            status=429,
            headers={"Retry-After": THROTTLE_RETRY_AFTER},
        )
    if kind == "503":
        return web.json_response({"error": {"message": "overloaded (injected)"}}, status=503)
    if kind == "drop":
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)  # never reaches the client: the connection is gone
    if kind == "malformed":
        return web.Response(
            text='{"id": "chatcmpl-broken", "choices": [{"message": {"content": "trunc',
            content_type="application/json",
        )
    await asyncio.sleep(state.slow_s)
    return None


async def _stream_chat(
    request: web.Request,
    body: dict[str, Any],
    prompt: str,
    content: str,
    delay_s: float = 0.0,
    words: list[str] | None = None,
    finish: str = "stop",
) -> web.StreamResponse:
    """``"stream": true``: the answer as server-sent events, one word per chunk (each after
    ``delay_s``; ``words``: the pieces, when not the words of ``content``), then a usage chunk
    when ``stream_options.include_usage`` is set, then ``[DONE]``."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    base = {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "model": "fake"}
    if words is None:
        words = [w if i == 0 else " " + w for i, w in enumerate(content.split(" "))]
    for index, word in enumerate(words):
        if delay_s:
            await asyncio.sleep(delay_s)
        delta = {"content": word}
        if index == 0:
            delta["role"] = "assistant"
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
    final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    await response.write(f"data: {json.dumps(final)}\n\n".encode())
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(words)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        chunk = {**base, "choices": [], "usage": usage}
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def _penalised(body: dict[str, Any]) -> bool:
    """Whether a request carries a repetition penalty (which breaks a runaway loop)."""
    return (body.get("repeat_penalty") or 1.0) > 1.0 or (body.get("frequency_penalty") or 0) > 0


async def _runaway(
    request: web.Request, body: dict[str, Any], text: str, endless: bool = False
) -> web.StreamResponse:
    """A model repeating ``text`` under a JSON grammar: one item per token up to the request's
    ``max_tokens`` (then ``finish_reason`` ``length``), without end when it sets none or
    ``endless``."""
    limit = None if endless else body.get("max_tokens") or body.get("max_completion_tokens")
    item = json.dumps(text)

    def pieces() -> Any:
        yield '{"items": [' + item
        count = 1
        while limit is None or count < limit:
            yield ", " + item
            count += 1

    if body.get("stream"):
        if limit is None:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            base = {"id": "chatcmpl-runaway", "object": "chat.completion.chunk"}
            for piece in pieces():  # until the client goes away
                await asyncio.sleep(RUNAWAY_TOKEN_S)
                delta = {"content": piece}
                chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        return await _stream_chat(
            request, body, "", "", RUNAWAY_TOKEN_S, list(pieces()), finish="length"
        )
    if limit is None:
        await asyncio.Event().wait()  # generating for ever: the client's deadline ends it
    content = "".join(pieces())
    await asyncio.sleep(RUNAWAY_TOKEN_S * limit)
    return web.json_response(
        {
            "id": "chatcmpl-runaway",
            "object": "chat.completion",
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "length",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": limit, "total_tokens": limit + 1},
        }
    )


def _structured_answer(response_format: Any, prompt: str, chosen: str | None = None) -> str | None:
    """The JSON answer to a request with a ``json_object`` / ``json_schema`` response format:
    ``{"echo": prompt}``, or the smallest instance of the schema (strings hold the prompt; an
    enum holding ``chosen`` answers with it)."""
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_object":
        return json.dumps({"echo": chosen if chosen is not None else prompt})
    if response_format.get("type") == "json_schema":
        return json.dumps(_instance(response_format["json_schema"]["schema"], prompt, chosen))
    return None


def _packed_answer(response_format: Any, prompt: str) -> str | None:
    """The keyed JSON answer to a packed prompt (None: the request is not one); each row is
    answered as its own prompt, with the row's own answer schema."""
    from lakeinfer.engine.packing import PACK_FORMAT, unpack_prompt

    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema") or {}
    if spec.get("name") != PACK_FORMAT:
        return None
    rows = unpack_prompt(prompt)
    if rows is None:
        return None
    if "[[pack:broken]]" in prompt:
        return '{"1": "this answer stops'
    properties = spec["schema"]["properties"]
    answer: dict[str, Any] = {}
    for number, row in enumerate(rows, start=1):
        if "[[pack:drop]]" in row:
            continue
        schema = properties[str(number)]
        value = _row_answer(schema, row)
        if "[[pack:garble]]" in row:
            value = _garbled(schema, value)
        if "[[pack:extra]]" in row:
            answer[str(len(rows) + 1)] = value
        answer[str(number)] = value
    return json.dumps(answer)


def _row_answer(schema: dict[str, Any], prompt: str) -> Any:
    """One packed row's answer: what the row's own prompt would be answered with."""
    chosen = ANSWER_MARKER.search(prompt)
    picked = chosen.group(1) if chosen else None
    kind = schema.get("type")
    if schema == {"type": "string"}:
        return picked if picked is not None else f"echo: {prompt}"
    if schema == {"type": "object"}:
        return {"echo": picked if picked is not None else prompt}
    if kind in ("integer", "number", "boolean") and picked is not None:
        try:
            return json.loads(picked)
        except json.JSONDecodeError:
            return picked
    return _instance(schema, prompt, picked)


def _garbled(schema: dict[str, Any], value: Any) -> Any:
    """``value`` made wrong: a label outside the enum where there is one, else a wrong type."""
    if schema.get("enum"):
        return "not one of the labels"
    if isinstance(value, dict):
        for key, inner in schema.get("properties", {}).items():
            if isinstance(inner, dict) and inner.get("enum"):
                return {**value, key: "not one of the labels"}
    return "garbled" if schema.get("type") in ("integer", "number", "boolean") else 12345


def _instance(schema: dict[str, Any], text: str, chosen: str | None = None) -> Any:
    """An instance of ``schema``; an enum gives ``chosen`` when it is one of its values, else
    one picked by the text's hash (so different prompts get different labels, the same prompt
    the same one)."""
    choices = [v for v in schema.get("enum") or [] if v is not None]
    if choices:
        if chosen in choices:
            return chosen
        return choices[hashlib.sha256(text.encode()).digest()[0] % len(choices)]
    if schema.get("anyOf"):
        return _instance(schema["anyOf"][0], text, chosen)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {k: _instance(v, text, chosen) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_instance(schema.get("items", {}), text, chosen)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(str(kind), text)


def chat_completion(
    state: _State, body: dict[str, Any], picked: str | None = None
) -> tuple[int, dict[str, Any]]:
    """The status and JSON body answering the chat request ``body`` (markers in its prompt
    choose the answer or an error status); ``picked``: the answer chosen by the caller."""
    prompt = body["messages"][-1]["content"]
    marker = STATUS_MARKER.search(prompt)
    if marker:
        state.counts["errors"] += 1
        status = int(marker.group(1))
        return status, {"error": {"message": f"injected failure {status}"}}
    chosen = ANSWER_MARKER.search(prompt)
    if picked is None and chosen:
        picked = chosen.group(1)
    content: str | None = _packed_answer(body.get("response_format"), prompt)
    if content is not None:
        state.counts["packed"] += 1
    else:
        content = _structured_answer(body.get("response_format"), prompt, picked) or (
            picked if picked is not None else f"echo: {prompt}"
        )
    finish = "stop"
    if NO_CONTENT_MARKER in prompt:
        content, finish = None, "content_filter"
    return 200, {
        "id": f"chatcmpl-{state.counts['chat']}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len((content or "").split()),
            "total_tokens": len(prompt.split()) + len((content or "").split()),
        },
    }


def build_app(
    latency_s: float = 0.0,
    keep_bodies: bool = True,
    token: str | None = None,
    *,
    fault_rate: float = 0.0,
    fault_seed: int = 0,
    slow_s: float = 2.0,
    fault_kinds: tuple[str, ...] = FAULT_KINDS,
) -> web.Application:
    """The fake server's application (see the module docstring for what it answers)."""
    state = _State(latency_s, keep_bodies, token, fault_rate, fault_seed, slow_s, fault_kinds)

    def authorised(request: web.Request) -> bool:
        return (
            state.token is None or request.headers.get("Authorization") == f"Bearer {state.token}"
        )

    async def chat(request: web.Request) -> web.StreamResponse:
        state.in_flight += 1
        state.counts["max_in_flight"] = max(state.counts["max_in_flight"], state.in_flight)
        try:
            return await _chat(request)
        finally:
            state.in_flight -= 1

    async def _chat(request: web.Request) -> web.StreamResponse:
        if state.keep_bodies:
            state.arrivals.append(time.monotonic())
        body = await request.json()
        state.counts["chat"] += 1
        if state.keep_bodies:
            state.bodies.append(body)
            state.headers.append(
                {"Authorization": request.headers.get("Authorization", ""), "path": request.path}
            )
        if not authorised(request):
            state.counts["errors"] += 1
            return _unauthorised(request)
        if state.latency_s:
            await asyncio.sleep(state.latency_s)
        fault = state.pick_fault()
        if fault is not None:
            response = await _fault_response(state, fault, request)
            if response is not None:
                return response
        prompt = body["messages"][-1]["content"]
        if STATUS_MARKER.search(prompt) is None:
            repeat = REPEAT_MARKER.search(prompt)
            structured = _structured_answer(body.get("response_format"), "")
            if repeat and structured and not _penalised(body):
                if state.keep_bodies:
                    state.answered[prompt] = state.answered.get(prompt, 0) + 1
                endless = repeat.group(1) == "endless"
                return await _runaway(request, body, repeat.group(2), endless)
            queued = QUEUED_MARKER.search(prompt)
            if queued:
                await asyncio.sleep(int(queued.group(1)) / 1000.0)
        slow = SLOW_TOKENS_MARKER.search(prompt)
        delay_s = int(slow.group(1)) / 1000.0 if slow else 0.0
        echo = None if STATUS_MARKER.search(prompt) else ECHO_AUTH_MARKER.search(prompt)
        picked = None
        if echo:
            answer = _echo_auth(request, int(echo.group(1)))
            if isinstance(answer, web.Response):
                return answer
            picked = answer
        status, payload = chat_completion(state, body, picked)
        if status != 200:
            return web.json_response(payload, status=status)
        if fault is None and state.keep_bodies:
            state.answered[prompt] = state.answered.get(prompt, 0) + 1
        if body.get("stream"):
            content = payload["choices"][0]["message"]["content"]
            return await _stream_chat(request, body, prompt, content or "", delay_s)
        if delay_s:
            content = payload["choices"][0]["message"]["content"]
            await asyncio.sleep(delay_s * len((content or "").split(" ")))
        return web.json_response(payload)

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        state.counts["embeddings"] += 1
        if state.keep_bodies:
            state.bodies.append(body)
        if not authorised(request):
            return _unauthorised(request)
        if state.latency_s:
            await asyncio.sleep(state.latency_s)
        fault = state.pick_fault()
        if fault is not None:
            response = await _fault_response(state, fault, request)
            if response is not None:
                return response
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if fault is None and state.keep_bodies:
            for text in inputs:
                state.answered[text] = state.answered.get(text, 0) + 1
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": embedding_for(t)}
                    for i, t in enumerate(inputs)
                ],
                "model": body.get("model", "fake"),
                "usage": {"prompt_tokens": sum(len(t.split()) for t in inputs), "total_tokens": 0},
            }
        )

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {
                **state.counts,
                "faults": state.faults,
                "answered": state.answered,
                "arrivals": state.arrivals,
                "bodies": state.bodies,
                "headers": state.headers,
                "batch_answered": state.batch_answered,
            }
        )

    async def slots(request: web.Request) -> web.Response:
        busy = state.in_flight > 0
        decoded = int(time.monotonic() * 10) if busy else 0
        slot = {
            "id": 0,
            "is_processing": busy,
            "id_task": state.counts["chat"],
            "n_prompt_tokens_processed": 1,
            "next_token": [{"n_decoded": decoded}],
        }
        return web.json_response([slot])

    async def reset(request: web.Request) -> web.Response:
        state.reset()
        return web.json_response({"ok": True})

    # batch input files are up to 200 MB
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.add_routes(batch_routes(state, chat_completion, authorised))
    app.add_routes(
        [
            web.post("/v1/chat/completions", chat),
            web.post("/v1/embeddings", embeddings),
            # a Databricks workspace serves the same API under /serving-endpoints
            web.post("/serving-endpoints/chat/completions", chat),
            web.post("/serving-endpoints/embeddings", embeddings),
            web.get("/stats", stats),
            web.get("/slots", slots),
            web.post("/reset", reset),
        ]
    )
    return app


class FakeOpenAIServer:
    """Runs the fake server in its own process on 127.0.0.1 (a context manager).

    A separate process keeps the server's CPU off the client's interpreter, as a real endpoint
    would be. ``base_url`` is ready for ``lakeinfer endpoints create --base-url``.
    """

    def __init__(
        self,
        latency_ms: float = 0.0,
        keep_bodies: bool = True,
        token: str | None = None,
        *,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        slow_ms: float = 2000.0,
        cpu: int | None = None,
        fault_kinds: tuple[str, ...] = FAULT_KINDS,
    ):
        """``cpu``: pin the server process to this CPU (load tests keep it off the client's)."""
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be between 0 and 1")
        self.latency_ms = latency_ms
        self.keep_bodies = keep_bodies
        self.token = token
        self.fault_rate = fault_rate
        self.fault_seed = fault_seed
        self.slow_ms = slow_ms
        self.cpu = cpu
        self.fault_kinds = fault_kinds
        self.port: int | None = None
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def pid(self) -> int:
        assert self._process is not None, "the server is not running"
        return self._process.pid

    def start(self) -> FakeOpenAIServer:
        command = [
            sys.executable,
            "-m",
            "lakeinfer.testing.fake_openai",
            "--port",
            "0",
            "--latency-ms",
            str(self.latency_ms),
        ]
        if not self.keep_bodies:
            command.append("--no-bodies")
        environment = {k: v for k, v in os.environ.items() if k != TOKEN_VARIABLE}
        if self.token:  # by environment: a command line is visible to every local user
            environment[TOKEN_VARIABLE] = self.token
        if self.fault_rate:
            command += ["--fault-rate", str(self.fault_rate), "--fault-seed", str(self.fault_seed)]
            command += ["--slow-ms", str(self.slow_ms)]
            command += ["--fault-kinds", ",".join(self.fault_kinds)]
        cpu = self.cpu
        pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, preexec_fn=pin, env=environment
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"fake OpenAI server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def hold_batches(self, hold: bool = True) -> None:
        """Keep batches ``in_progress`` (or let them go on): see :mod:`fake_batches`."""
        request = urllib.request.Request(
            f"{self.url}/batches-hold",
            data=json.dumps({"hold": hold}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(
    port: int,
    latency_ms: float,
    keep_bodies: bool,
    token: str | None,
    fault_rate: float = 0.0,
    fault_seed: int = 0,
    slow_ms: float = 2000.0,
    fault_kinds: tuple[str, ...] = FAULT_KINDS,
) -> None:
    async def main() -> None:
        app = build_app(
            latency_ms / 1000.0,
            keep_bodies,
            token,
            fault_rate=fault_rate,
            fault_seed=fault_seed,
            slow_s=slow_ms / 1000.0,
            fault_kinds=fault_kinds,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        print(f"listening {runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()  # until terminated

    asyncio.run(main())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--no-bodies", action="store_true", help="do not keep request bodies")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE),
        help=f"require this bearer token (default: ${TOKEN_VARIABLE})",
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="share of requests given a fault (0..1)"
    )
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the fault picks")
    parser.add_argument(
        "--slow-ms", type=float, default=2000.0, help="how late a 'slow' fault answers"
    )
    parser.add_argument(
        "--fault-kinds",
        default=",".join(FAULT_KINDS),
        help=f"comma-separated kinds of faults to pick from ({','.join(FAULT_KINDS)})",
    )
    args = parser.parse_args()
    if not 0.0 <= args.fault_rate <= 1.0:
        parser.error("--fault-rate must be between 0 and 1")
    kinds = tuple(k for k in args.fault_kinds.split(",") if k)
    if not kinds or any(k not in FAULT_KINDS for k in kinds):
        parser.error(f"--fault-kinds must name some of {', '.join(FAULT_KINDS)}")
    try:
        _serve(
            args.port,
            args.latency_ms,
            not args.no_bodies,
            args.token,
            args.fault_rate,
            args.fault_seed,
            args.slow_ms,
            kinds,
        )
    except KeyboardInterrupt:
        pass
