"""OpenAI's Files + Batches API, served by the fake server of :mod:`lakeinfer.testing.fake_openai`.

Routes (under ``/v1``), as the public API reference describes them:

* ``POST /files`` (multipart: ``purpose=batch``, ``file``) -> a file object ``{"id": "file-..."}``;
* ``GET /files/{id}`` -> the file object; ``GET /files/{id}/content`` -> its bytes;
* ``POST /batches`` ``{"input_file_id", "endpoint": "/v1/chat/completions",
  "completion_window": "24h", "metadata"}`` -> a batch object in status ``validating``;
* ``GET /batches/{id}`` -> the batch object, moved one step on by each look:
  ``validating`` -> ``in_progress`` -> ``finalizing`` -> ``completed`` (the lines are answered
  when it reaches ``finalizing``), or ``failed``, ``expired``; ``POST /batches/{id}/cancel`` ->
  ``cancelling``, then ``cancelled`` at the next look.

A finished batch names an ``output_file_id`` (lines ``{"id", "custom_id", "response":
{"status_code": 200, "request_id", "body"}, "error": null}``) and, when lines failed, an
``error_file_id`` (the same shape with the error status and body, or ``"response": null`` and an
``error`` ``{"code", "message"}`` for lines never run). ``request_counts`` counts
``total``, ``completed`` and ``failed`` lines.

Failures are injected by markers in a line's prompt: ``[[status:NNN]]`` fails the line as the
online call would; ``[[batch-status:NNN]]`` fails it in a batch only (an online call answers it);
``[[batch:late]]`` is never reached, so its batch ends ``expired`` with that line in the error
file (code ``batch_expired``); ``[[batch:invalid]]`` fails the whole batch's validation
(``status: failed``, ``errors.data`` naming the line). ``POST /batches-hold`` ``{"hold": true}``
keeps batches ``in_progress`` until released (a test kills its client meanwhile).

Each answered line counts in ``/stats``: ``batch_lines`` and ``batch_answered`` (per prompt);
``files`` and ``batches`` count uploads and batches created.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

BATCH_STATUS_MARKER = re.compile(r"\[\[batch-status:(\d{3})\]\]")
LATE_MARKER = "[[batch:late]]"
INVALID_MARKER = "[[batch:invalid]]"
ENDPOINTS = ("/v1/chat/completions",)
#: the documented limits of one batch input file
MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024 * 1024

Completion = Callable[[Any, dict[str, Any]], tuple[int, dict[str, Any]]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error"}}, status=status
    )


def batch_routes(
    state: Any, complete: Completion, authorised: Callable[[web.Request], bool]
) -> list[web.RouteDef]:
    """The routes of the Files and Batches API over the fake server's ``state``;
    ``complete(state, body)`` answers one chat request as the online route does."""

    def file_object(file_id: str) -> dict[str, Any]:
        stored = state.files[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(stored["data"]),
            "created_at": stored["created_at"],
            "filename": stored["filename"],
            "purpose": stored["purpose"],
        }

    def store_file(data: bytes, filename: str, purpose: str) -> str:
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        state.files[file_id] = {
            "data": data,
            "filename": filename,
            "purpose": purpose,
            "created_at": int(time.time()),
        }
        return file_id

    async def upload(request: web.Request) -> web.Response:
        if not authorised(request):
            return _error(401, "Incorrect API key provided")
        form = await request.post()
        purpose, upload = form.get("purpose"), form.get("file")
        if purpose != "batch" or not isinstance(upload, web.FileField):
            return _error(400, "expected multipart fields purpose=batch and file")
        data = upload.file.read()
        if len(data) > MAX_BYTES:
            return _error(400, f"the file is over {MAX_BYTES} bytes")
        state.counts["files"] += 1
        return web.json_response(file_object(store_file(data, upload.filename, "batch")))

    async def get_file(request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in state.files:
            return _error(404, f"No such File object: {file_id}")
        return web.json_response(file_object(file_id))

    async def file_content(request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in state.files:
            return _error(404, f"No such File object: {file_id}")
        return web.Response(body=state.files[file_id]["data"], content_type="application/jsonl")

    async def create(request: web.Request) -> web.Response:
        if not authorised(request):
            return _error(401, "Incorrect API key provided")
        body = await request.json()
        file_id = body.get("input_file_id")
        if file_id not in state.files:
            return _error(400, f"input_file_id {file_id!r} does not exist")
        if body.get("endpoint") not in ENDPOINTS:
            return _error(400, f"endpoint must be one of {', '.join(ENDPOINTS)}")
        if body.get("completion_window") != "24h":
            return _error(400, "completion_window must be '24h'")
        lines = state.files[file_id]["data"].splitlines()
        if len(lines) > MAX_REQUESTS:
            return _error(400, f"the file has over {MAX_REQUESTS} requests")
        now = int(time.time())
        batch_id = f"batch_{uuid.uuid4().hex[:24]}"
        state.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": file_id,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 24 * 3600,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata") or {},
        }
        state.counts["batches"] += 1
        return web.json_response(state.batches[batch_id])

    def run_lines(batch: dict[str, Any]) -> None:
        """Answer the batch's lines into an output and an error file."""
        output: list[bytes] = []
        errors: list[bytes] = []
        expired = False
        for raw in state.files[batch["input_file_id"]]["data"].splitlines():
            line = json.loads(raw)
            body = line["body"]
            prompt = str(body["messages"][-1]["content"])
            entry: dict[str, Any] = {
                "id": f"batch_req_{uuid.uuid4().hex[:24]}",
                "custom_id": line["custom_id"],
            }
            if LATE_MARKER in prompt:
                expired = True
                entry |= {
                    "response": None,
                    "error": {
                        "code": "batch_expired",
                        "message": "This request could not be executed before the completion "
                        "window expired.",
                    },
                }
                errors.append(json.dumps(entry).encode())
                continue
            marker = BATCH_STATUS_MARKER.search(prompt)
            if marker:
                status = int(marker.group(1))
                answer: dict[str, Any] = {"error": {"message": f"injected batch failure {status}"}}
            else:
                status, answer = complete(state, body)
            entry |= {
                "response": {
                    "status_code": status,
                    "request_id": uuid.uuid4().hex,
                    "body": answer,
                },
                "error": None,
            }
            state.counts["batch_lines"] += 1
            state.batch_answered[prompt] = state.batch_answered.get(prompt, 0) + 1
            (output if status == 200 else errors).append(json.dumps(entry).encode())
        if output:
            batch["output_file_id"] = store_file(b"\n".join(output) + b"\n", "output", "batch")
        if errors:
            batch["error_file_id"] = store_file(b"\n".join(errors) + b"\n", "errors", "batch")
        counts = batch["request_counts"]
        counts["completed"], counts["failed"] = len(output), len(errors)
        batch["expired"] = expired

    def step(batch: dict[str, Any]) -> None:
        """One look moves the batch one status on."""
        now = int(time.time())
        status = batch["status"]
        if status == "validating":
            data = state.files[batch["input_file_id"]]["data"]
            for number, raw in enumerate(data.splitlines(), start=1):
                if INVALID_MARKER.encode() in raw:
                    batch["status"], batch["failed_at"] = "failed", now
                    batch["errors"] = {
                        "object": "list",
                        "data": [
                            {
                                "code": "invalid_request",
                                "message": "the request is not valid (injected)",
                                "param": "body",
                                "line": number,
                            }
                        ],
                    }
                    return
            batch["status"], batch["in_progress_at"] = "in_progress", now
        elif status == "in_progress" and not state.hold_batches:
            run_lines(batch)
            batch["status"], batch["finalizing_at"] = "finalizing", now
        elif status == "finalizing":
            if batch.pop("expired", False):
                batch["status"], batch["expired_at"] = "expired", now
            else:
                batch["status"], batch["completed_at"] = "completed", now
        elif status == "cancelling":
            batch["status"], batch["cancelled_at"] = "cancelled", now

    async def retrieve(request: web.Request) -> web.Response:
        batch = state.batches.get(request.match_info["batch_id"])
        if batch is None:
            return _error(404, f"No such Batch object: {request.match_info['batch_id']}")
        step(batch)
        return web.json_response({k: v for k, v in batch.items() if k != "expired"})

    async def cancel(request: web.Request) -> web.Response:
        batch = state.batches.get(request.match_info["batch_id"])
        if batch is None:
            return _error(404, f"No such Batch object: {request.match_info['batch_id']}")
        if batch["status"] in ("validating", "in_progress", "finalizing"):
            batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
        return web.json_response({k: v for k, v in batch.items() if k != "expired"})

    async def hold(request: web.Request) -> web.Response:
        state.hold_batches = bool((await request.json()).get("hold"))
        return web.json_response({"hold": state.hold_batches})

    return [
        web.post("/v1/files", upload),
        web.get("/v1/files/{file_id}", get_file),
        web.get("/v1/files/{file_id}/content", file_content),
        web.post("/v1/batches", create),
        web.get("/v1/batches/{batch_id}", retrieve),
        web.post("/v1/batches/{batch_id}/cancel", cancel),
        web.post("/batches-hold", hold),
    ]
