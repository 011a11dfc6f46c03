"""The workspace's web application: a JSON API over the session, the page and its assets.

One :class:`~lakeinfer.session.Session` serves every request, for the same reasons the CLI's
shell keeps one: ``USE`` and ``SET`` made in the editor apply to the next run, endpoint
connection pools (and the embedded model server) are started once, and the response cache is
opened once. Statements run one at a time on it (:class:`~lakeinfer.ui.runs.RunManager` holds
its lock, a second run gets HTTP 409); catalog, history, jobs, streams and reports are read from
the Delta logs and files without the lock, so browsing never waits for a long AI query.

Security (see :mod:`lakeinfer.serving.guard`, shared with ``lakeinfer serve``): bound to a
loopback address, requests must name that address in ``Host`` (no DNS rebinding); requests from
another origin are refused and state-changing requests must be JSON (no cross-site form posts).
Every request must carry the workspace's token (unless it was started with the explicit
opt-out): as ``Authorization: Bearer <token>``, or as the cookie set when the page is opened
once with ``/?token=<token>``, the address ``lakeinfer ui`` prints and opens. Its SQL runs in a
session that may read files only under the lakehouse and the allowed directories.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import lakeinfer
from lakeinfer.errors import LakeinferError, UnknownEndpointError, UnknownTableError
from lakeinfer.redaction import register
from lakeinfer.serving.guard import Guard, same_token
from lakeinfer.session import Session
from lakeinfer.ui import browse, endpoints, sources
from lakeinfer.ui.grid import DEFAULT_PAGE, page
from lakeinfer.ui.runs import BusyError, RunManager

STATIC = Path(__file__).parent / "static"
#: the token cookie's name, followed by the port: cookies do not tell ports apart, and two
#: workspaces open at once must not overwrite each other's
COOKIE = "lakeinfer_ui_token"
EVENT_INTERVAL_S = 0.2

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[..., Any], Callable[..., Any]], Awaitable[None]]


def create_app(
    session: Session,
    *,
    token: str | None,
    host: str = "127.0.0.1",
    report_dirs: list[Path] | None = None,
) -> Starlette:
    """The workspace application over ``session`` served on ``host``; ``token``: required on
    every request (None: the explicit opt-out). ``report_dirs``: extra folders searched for
    HTML reports."""
    register(token)
    runs = RunManager(session)
    dirs = sources.report_dirs(session.home, report_dirs or [])

    def info(request: Request) -> Response:
        return JSONResponse(
            {
                "home": str(session.home),
                "version": lakeinfer.__version__,
                "namespace": f"{session.namespace.catalog}.{session.namespace.schema}",
                "empty": sources.EMPTY,
            }
        )

    async def start_run(request: Request) -> Response:
        body = await _json(request)
        sql = body.get("sql")
        if not isinstance(sql, str):
            return _error("the request needs a 'sql' string", 400)
        run = runs.start(sql)
        return JSONResponse(run.snapshot(), status_code=201)

    def run_status(request: Request) -> Response:
        return JSONResponse(_run(runs, request).snapshot())

    def cancel_run(request: Request) -> Response:
        run = runs.cancel(request.path_params["run_id"])
        if run is None:
            return _error("no such run", 404)
        return JSONResponse(run.snapshot())

    def run_rows(request: Request) -> Response:
        run = _run(runs, request)
        index = request.path_params["index"]
        if not 0 <= index < len(run.statements):
            return _error(f"run {run.id} has no statement {index}", 404)
        offset, limit = _int(request, "offset", 0), _int(request, "limit", DEFAULT_PAGE)
        return JSONResponse(page(run.statements[index].table, offset, limit))

    async def run_events(request: Request) -> Response:
        run = _run(runs, request)

        async def stream():  # server-sent events: a snapshot every EVENT_INTERVAL_S
            while True:
                finished = run.done.is_set()
                snapshot = run.snapshot()
                yield f"event: {'done' if finished else 'progress'}\ndata: {json.dumps(snapshot)}\n\n"
                if finished or await request.is_disconnected():
                    return
                await asyncio.sleep(EVENT_INTERVAL_S)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    def catalog_tree(request: Request) -> Response:
        return JSONResponse(browse.tree(session.catalog))

    def table(request: Request) -> Response:
        return JSONResponse(browse.table_info(session.catalog, request.path_params["name"]))

    def table_rows(request: Request) -> Response:
        version = request.query_params.get("version")
        return JSONResponse(
            browse.preview(
                session.catalog,
                request.path_params["name"],
                int(version) if version not in (None, "") else None,
                _int(request, "limit", browse.PREVIEW_ROWS),
            )
        )

    def history(request: Request) -> Response:
        return JSONResponse(browse.query_history(session.catalog, _int(request, "limit", 200)))

    def endpoint_list(request: Request) -> Response:
        return JSONResponse(endpoints.list_endpoints(session))

    def endpoint_health(request: Request) -> Response:
        return JSONResponse(endpoints.health(session, request.path_params["name"]))

    def jobs(request: Request) -> Response:
        return JSONResponse(sources.job_runs(session.catalog))

    def job_tasks(request: Request) -> Response:
        return JSONResponse(sources.task_runs(session.catalog, request.path_params["run_id"]))

    def streams(request: Request) -> Response:
        return JSONResponse(sources.streams(session.catalog))

    def report_list(request: Request) -> Response:
        return JSONResponse(sources.reports(dirs))

    def report_file(request: Request) -> Response:
        path = sources.report_path(dirs, request.path_params["report_id"])
        if path is None:
            return _error("no such report", 404)
        # reports embed their charts; they may not run scripts or reach the API
        policy = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        headers = {"Content-Security-Policy": policy}
        return FileResponse(path, media_type="text/html", headers=headers)

    def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/runs", start_run, methods=["POST"]),
        Route("/api/runs/{run_id}", run_status),
        Route("/api/runs/{run_id}/events", run_events),
        Route("/api/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
        Route("/api/runs/{run_id}/statements/{index:int}", run_rows),
        Route("/api/catalog", catalog_tree),
        Route("/api/tables/{name}", table),
        Route("/api/tables/{name}/rows", table_rows),
        Route("/api/history", history),
        Route("/api/endpoints", endpoint_list),
        Route("/api/endpoints/{name}/health", endpoint_health, methods=["POST"]),
        Route("/api/jobs", jobs),
        Route("/api/jobs/{run_id}/tasks", job_tasks),
        Route("/api/streams", streams),
        Route("/api/reports", report_list),
        Route("/reports/{report_id}", report_file),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    handlers = {
        BusyError: lambda request, exc: _error(str(exc), 409),
        RunNotFoundError: lambda request, exc: _error(str(exc), 404),
        UnknownTableError: lambda request, exc: _error(str(exc), 404),
        UnknownEndpointError: lambda request, exc: _error(str(exc), 404),
        LakeinferError: lambda request, exc: _error(str(exc), 400),
        ValueError: lambda request, exc: _error(str(exc), 400),
    }
    app = Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]
    app.state.runs = runs
    return _guard(app, Guard.for_server(host, token))


def _run(runs: RunManager, request: Request) -> Any:
    run = runs.get(request.path_params["run_id"])
    if run is None:
        raise RunNotFoundError()
    return run


class RunNotFoundError(LakeinferError):
    """A run id the workspace does not know (it keeps the last few runs)."""

    def __init__(self) -> None:
        super().__init__("no such run (the workspace keeps the last 20)")


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ValueError("the request body must be JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


def _int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"query parameter {name!r} must be an integer, got {value!r}") from None


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _guard(app: Starlette, guard: Guard) -> Any:
    """Wrap ``app`` with the checks described in the module docstring."""

    async def guarded(scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = _refusal(scope, headers, guard)
        if problem is not None:
            await problem(scope, receive, send)
            return
        await app(scope, receive, send)

    guarded.app = app  # type: ignore[attr-defined]
    return guarded


def _refusal(scope: Scope, headers: dict[str, str], guard: Guard) -> Response | None:
    method, path = scope["method"], scope["path"]
    refused = guard.origin_refusal(headers)
    if refused is not None:
        return _error(refused.message, refused.status)
    if method not in ("GET", "HEAD") and not headers.get("content-type", "").startswith(
        "application/json"
    ):
        return _error("refused: requests that change state must send JSON", 415)
    name = f"{COOKIE}_{(scope.get('server') or ('', 0))[1]}"
    cookie = SimpleCookie(headers.get("cookie", "")).get(name)
    if guard.authorized(headers, [cookie.value if cookie is not None else None]):
        return None
    assert guard.token is not None  # authorized() lets everything through without one
    given = parse_qs(scope.get("query_string", b"").decode()).get("token", [""])[0]
    if path == "/" and given and same_token(given, guard.token):
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(name, guard.token, httponly=True, samesite="strict")
        return response
    if path.startswith("/api/"):
        return _error("a token is required: send 'Authorization: Bearer <token>'", 401)
    return HTMLResponse(
        "<!doctype html><title>lakeinfer</title><p>This workspace needs its token: open the "
        "address <code>lakeinfer ui</code> printed (it ends in <code>?token=...</code>).</p>",
        status_code=401,
    )
