"""The workspace's web application: a JSON API over the session, the page and its assets.

One :class:`~lakeinfer.session.Session` serves every request, for the same reasons the CLI's
shell keeps one: ``USE`` and ``SET`` made in the editor apply to the next run, endpoint
connection pools (and the embedded model server) are started once, and the response cache is
opened once. Statements run one at a time on it (:class:`~lakeinfer.ui.runs.RunManager` holds
its lock, a second run gets HTTP 409); catalog, history, jobs, streams and reports are read from
the Delta logs and files without the lock, so browsing never waits for a long AI query.

It is an aiohttp application, as ``lakeinfer serve`` is. Handlers that read the lakehouse
run on worker threads, so a slow read never holds up the event loop.

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
import functools
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

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
#: the largest request body taken (the editor's SQL)
MAX_BODY = 16 * 1024 * 1024
#: the app key of the workspace's :class:`RunManager`
RUNS = web.AppKey("runs", RunManager)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    session: Session,
    *,
    token: str | None,
    host: str = "127.0.0.1",
    report_dirs: list[Path] | None = None,
) -> web.Application:
    """The workspace application over ``session`` served on ``host``; ``token``: required on
    every request (None: the explicit opt-out). ``report_dirs``: extra folders searched for
    HTML reports."""
    register(token)
    runs = RunManager(session)
    dirs = sources.report_dirs(session.home, report_dirs or [])

    def info(request: web.Request) -> web.Response:
        return _json_response(
            {
                "home": str(session.home),
                "version": lakeinfer.__version__,
                "namespace": f"{session.namespace.catalog}.{session.namespace.schema}",
                "empty": sources.EMPTY,
            }
        )

    async def start_run(request: web.Request) -> web.Response:
        body = await _json(request)
        sql = body.get("sql")
        if not isinstance(sql, str):
            return _error("the request needs a 'sql' string", 400)
        run = runs.start(sql)
        return _json_response(run.snapshot(), status=201)

    def run_status(request: web.Request) -> web.Response:
        return _json_response(_run(runs, request).snapshot())

    def cancel_run(request: web.Request) -> web.Response:
        run = runs.cancel(request.match_info["run_id"])
        if run is None:
            return _error("no such run", 404)
        return _json_response(run.snapshot())

    def run_rows(request: web.Request) -> web.Response:
        run = _run(runs, request)
        index = int(request.match_info["index"])
        if not 0 <= index < len(run.statements):
            return _error(f"run {run.id} has no statement {index}", 404)
        offset, limit = _int(request, "offset", 0), _int(request, "limit", DEFAULT_PAGE)
        return _json_response(page(run.statements[index].table, offset, limit))

    async def run_events(request: web.Request) -> web.StreamResponse:
        run = _run(runs, request)
        response = web.StreamResponse(
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        response.content_type = "text/event-stream"
        await response.prepare(request)
        try:  # server-sent events: a snapshot every EVENT_INTERVAL_S
            while True:
                finished = run.done.is_set()
                snapshot = run.snapshot()
                event = "done" if finished else "progress"
                await response.write(f"event: {event}\ndata: {json.dumps(snapshot)}\n\n".encode())
                if finished or request.transport is None or request.transport.is_closing():
                    break
                await asyncio.sleep(EVENT_INTERVAL_S)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the page went away
        return response

    def catalog_tree(request: web.Request) -> web.Response:
        return _json_response(browse.tree(session.catalog))

    def table(request: web.Request) -> web.Response:
        return _json_response(browse.table_info(session.catalog, request.match_info["name"]))

    def table_rows(request: web.Request) -> web.Response:
        version = request.query.get("version")
        return _json_response(
            browse.preview(
                session.catalog,
                request.match_info["name"],
                int(version) if version not in (None, "") else None,
                _int(request, "limit", browse.PREVIEW_ROWS),
            )
        )

    def history(request: web.Request) -> web.Response:
        return _json_response(browse.query_history(session.catalog, _int(request, "limit", 200)))

    def endpoint_list(request: web.Request) -> web.Response:
        return _json_response(endpoints.list_endpoints(session))

    def endpoint_health(request: web.Request) -> web.Response:
        return _json_response(endpoints.health(session, request.match_info["name"]))

    def jobs(request: web.Request) -> web.Response:
        return _json_response(sources.job_runs(session.catalog))

    def job_tasks(request: web.Request) -> web.Response:
        return _json_response(sources.task_runs(session.catalog, request.match_info["run_id"]))

    def streams(request: web.Request) -> web.Response:
        return _json_response(sources.streams(session.catalog))

    def batch_list(request: web.Request) -> web.Response:
        return _json_response(sources.batches(session.home))

    def report_list(request: web.Request) -> web.Response:
        return _json_response(sources.reports(dirs))

    def report_file(request: web.Request) -> web.StreamResponse:
        path = sources.report_path(dirs, request.match_info["report_id"])
        if path is None:
            return _error("no such report", 404)
        # reports embed their charts; they may not run scripts or reach the API
        policy = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        headers = {"Content-Security-Policy": policy, "Content-Type": "text/html"}
        return web.FileResponse(path, headers=headers)

    def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app = web.Application(
        middlewares=[_guard(Guard.for_server(host, token))], client_max_size=MAX_BODY
    )
    app.add_routes(
        [
            web.get("/", _threaded(index)),
            web.get("/api/info", _threaded(info)),
            web.post("/api/runs", start_run),
            web.get("/api/runs/{run_id}", _threaded(run_status)),
            web.get("/api/runs/{run_id}/events", run_events),
            web.post("/api/runs/{run_id}/cancel", _threaded(cancel_run)),
            web.get(r"/api/runs/{run_id}/statements/{index:\d+}", _threaded(run_rows)),
            web.get("/api/catalog", _threaded(catalog_tree)),
            web.get("/api/tables/{name}", _threaded(table)),
            web.get("/api/tables/{name}/rows", _threaded(table_rows)),
            web.get("/api/history", _threaded(history)),
            web.get("/api/endpoints", _threaded(endpoint_list)),
            web.post("/api/endpoints/{name}/health", _threaded(endpoint_health)),
            web.get("/api/jobs", _threaded(jobs)),
            web.get("/api/jobs/{run_id}/tasks", _threaded(job_tasks)),
            web.get("/api/streams", _threaded(streams)),
            web.get("/api/batches", _threaded(batch_list)),
            web.get("/api/reports", _threaded(report_list)),
            web.get("/reports/{report_id}", _threaded(report_file)),
            web.static("/static", STATIC),
        ]
    )
    app[RUNS] = runs
    return app


def _threaded(handler: Callable[[web.Request], web.StreamResponse]) -> Handler:
    """``handler`` run on a worker thread: it reads Delta logs and files, or waits for an
    endpoint, and the event loop keeps answering meanwhile."""

    @functools.wraps(handler)
    async def threaded(request: web.Request) -> web.StreamResponse:
        return await asyncio.get_running_loop().run_in_executor(None, handler, request)

    return threaded


def _run(runs: RunManager, request: web.Request) -> Any:
    run = runs.get(request.match_info["run_id"])
    if run is None:
        raise RunNotFoundError()
    return run


class RunNotFoundError(LakeinferError):
    """A run id the workspace does not know (it keeps the last few runs)."""

    def __init__(self) -> None:
        super().__init__("no such run (the workspace keeps the last 20)")


#: the HTTP status of each error a route may raise (the most specific class wins)
_STATUS = {
    BusyError: 409,
    RunNotFoundError: 404,
    UnknownTableError: 404,
    UnknownEndpointError: 404,
    LakeinferError: 400,
    ValueError: 400,
}


def _status_of(exc: Exception) -> int | None:
    return next((_STATUS[k] for k in type(exc).__mro__ if k in _STATUS), None)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the request body must be JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


def _int(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"query parameter {name!r} must be an integer, got {value!r}") from None


def _json_response(data: Any, status: int = 200) -> web.Response:
    # strict JSON (no NaN), UTF-8 as is
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return web.Response(text=text, status=status, content_type="application/json")


def _error(message: str, status: int) -> web.Response:
    return _json_response({"error": message}, status)


def _guard(guard: Guard) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware that applies the checks described in the module docstring to every
    request, before its route runs, and answers a route's errors with their status."""

    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        problem = _refusal(request, guard)
        if problem is not None:
            return problem
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            status = _status_of(exc)
            if status is None:
                raise
            return _error(str(exc), status)

    return guarded


def _refusal(request: web.Request, guard: Guard) -> web.StreamResponse | None:
    headers = request.headers
    refused = guard.origin_refusal(headers)
    if refused is not None:
        return _error(refused.message, refused.status)
    if request.method not in ("GET", "HEAD") and not headers.get("content-type", "").startswith(
        "application/json"
    ):
        return _error("refused: requests that change state must send JSON", 415)
    name = f"{COOKIE}_{_port(request)}"
    if guard.authorized(headers, [request.cookies.get(name)]):
        return None
    assert guard.token is not None  # authorized() lets everything through without one
    given = request.query.get("token", "")
    if request.path == "/" and given and same_token(given, guard.token):
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(name, guard.token, httponly=True, samesite="Strict")
        return response
    if request.path.startswith("/api/"):
        return _error("a token is required: send 'Authorization: Bearer <token>'", 401)
    return web.Response(
        text="<!doctype html><title>lakeinfer</title><p>This workspace needs its token: open the "
        "address <code>lakeinfer ui</code> printed (it ends in <code>?token=...</code>).</p>",
        status=401,
        content_type="text/html",
    )


def _port(request: web.Request) -> int:
    """The port the request came in on (the server's, whatever its Host header says)."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return sockname[1] if sockname else 0
