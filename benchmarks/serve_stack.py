"""Requests per second of one OpenAI-compatible chat route on aiohttp.web and on
Starlette + uvicorn, the two web stacks lakeinfer's servers could be written on.

Both servers answer ``POST /v1/chat/completions`` with the same minimal handler (parse the JSON
body, check ``model`` and ``messages``, answer a fixed chat completion) behind the same guard
as ``lakeinfer serve`` and ``lakeinfer ui`` (:class:`lakeinfer.serving.guard.Guard`: loopback
Host, no foreign Origin, a bearer token compared in constant time), each wired the way its
framework is used: an aiohttp middleware, a pure ASGI wrapper around Starlette. No model is
called, so the figures measure the stack alone.

Each server runs in its own process on 127.0.0.1 (uvicorn with httptools and the asyncio loop,
as lakeinfer's dependencies install it) for the whole run. One aiohttp client with
``--concurrency`` requests in flight loads one server at a time for ``--seconds``; the stacks
alternate for ``--rounds`` rounds, each round starting with the other one. Reported: each
stack's median requests/s, and the median of the rounds' ratios to aiohttp.web (the baseline,
the stack ``lakeinfer serve`` has used): a round's two loads are seconds apart, so a busy
machine weighs on both. Also reported: the server process's CPU time per request (from
``/proc``), which a busy machine disturbs less than wall-clock rates. Every answer is
checked, and so is the refusal of a request without the token.

    python benchmarks/serve_stack.py [--seconds 2] [--rounds 5] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

TOKEN = "bench-token-0123456789abcdef"
BASELINE = "aiohttp"
STACKS = ("aiohttp", "starlette")
NAMES = {"aiohttp": "aiohttp.web", "starlette": "Starlette + uvicorn"}
#: a server left behind by a crashed run stops by itself after this long
LIFETIME_S = 600.0
REQUEST = {"model": "chat", "messages": [{"role": "user", "content": "Summarize: lakeinfer"}]}
ANSWER = "1 message(s) read"


def _answer(body: Any) -> tuple[int, dict[str, Any]]:
    """The shared handler: a fixed chat completion, or a 400 naming what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return 400, {"error": {"message": "'model' is required", "type": "invalid_request_error"}}
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, {"error": {"message": "'messages' must be a list", "type": "bad_request"}}
    return 200, {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"{len(messages)} message(s) read"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
    }


def _refused(refusal: Any) -> dict[str, Any]:
    kind = "authentication_error" if refusal.status == 401 else "permission_error"
    return {"error": {"message": refusal.message, "type": kind}}


async def _serve_aiohttp(port: int, ready: Any) -> None:
    from aiohttp import web

    from lakeinfer.serving.guard import Guard

    guard = Guard.for_server("127.0.0.1", TOKEN)

    @web.middleware
    async def checked(request: web.Request, handler: Any) -> web.StreamResponse:
        refusal = guard.refusal(request.headers)
        if refusal is not None:
            return web.json_response(_refused(refusal), status=refusal.status)
        return await handler(request)

    async def chat(request: web.Request) -> web.Response:
        status, body = _answer(await request.json())
        return web.json_response(body, status=status)

    app = web.Application(middlewares=[checked])
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    ready()
    try:
        await asyncio.sleep(LIFETIME_S)
    finally:
        await runner.cleanup()


async def _serve_starlette(port: int, ready: Any) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from lakeinfer.serving.guard import Guard

    guard = Guard.for_server("127.0.0.1", TOKEN)

    async def chat(request: Request) -> JSONResponse:
        status, body = _answer(await request.json())
        return JSONResponse(body, status_code=status)

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            refusal = guard.refusal(headers)
            if refusal is not None:
                response = JSONResponse(_refused(refusal), status_code=refusal.status)
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    config = uvicorn.Config(
        guarded,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it listened")
        await asyncio.sleep(0.01)
    ready()
    try:
        await asyncio.wait_for(asyncio.shield(task), LIFETIME_S)
    except TimeoutError:
        pass
    finally:
        server.should_exit = True
        await task


def _serve(stack: str, port: int) -> None:
    """The child process: serve ``stack`` on ``port`` until stdin closes (the parent is done
    or gone) or LIFETIME_S passes."""

    async def main() -> None:
        serve = _serve_aiohttp if stack == "aiohttp" else _serve_starlette
        task = asyncio.ensure_future(serve(port, lambda: print("ready", flush=True)))
        loop = asyncio.get_running_loop()

        def watch_parent() -> None:
            sys.stdin.read()
            loop.call_soon_threadsafe(task.cancel)

        threading.Thread(target=watch_parent, daemon=True).start()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One stack's server in its own process; stopped (stdin closed) on exit."""

    def __init__(self, stack: str):
        self.stack = stack
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def __enter__(self) -> Server:
        command = [sys.executable, __file__, "--serve", self.stack, "--port", str(self.port)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"the {NAMES[self.stack]} server did not start (said {line!r})")
        return self

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def _load(server: Server, seconds: float, concurrency: int) -> tuple[float, float]:
    """Requests/s ``server`` answers with ``concurrency`` requests in flight for ``seconds``,
    and the server's CPU microseconds per request; every answer is checked, and a request
    without the token must be refused."""
    url = server.url
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as client:
        async with client.post(url, json=REQUEST) as response:
            if response.status != 401:
                raise AssertionError(f"{url} answered {response.status} without the token")

        async def one() -> None:
            async with client.post(url, json=REQUEST, headers=headers) as response:
                answer = await response.json()
            if response.status != 200 or answer["choices"][0]["message"]["content"] != ANSWER:
                raise AssertionError(f"{url} answered {response.status}: {answer}")

        await asyncio.gather(*(one() for _ in range(concurrency)))  # opens the connections
        done = 0
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await one()
                done += 1

        started, cpu = time.perf_counter(), server.cpu_seconds()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - started, server.cpu_seconds() - cpu
        return done / elapsed, cpu / done * 1e6


def measure(seconds: float, rounds: int, concurrency: int) -> dict[str, Any]:
    """Each stack's requests/s and server CPU microseconds per request, per round; the median
    of each, and the median of the rounds' requests/s ratios to the baseline."""
    per_round: dict[str, list[float]] = {stack: [] for stack in STACKS}
    cpu_us: dict[str, list[float]] = {stack: [] for stack in STACKS}
    with Server(STACKS[0]) as first, Server(STACKS[1]) as second:
        servers = {first.stack: first, second.stack: second}
        for index in range(rounds):
            order = STACKS if index % 2 == 0 else STACKS[::-1]
            for stack in order:
                rps, us = asyncio.run(_load(servers[stack], seconds, concurrency))
                per_round[stack].append(rps)
                cpu_us[stack].append(us)
    ratios = {
        stack: [v / b for v, b in zip(per_round[stack], per_round[BASELINE], strict=True)]
        for stack in STACKS
    }
    return {
        "seconds": seconds,
        "rounds": rounds,
        "concurrency": concurrency,
        "baseline": BASELINE,
        "rps": per_round,
        "median_rps": {stack: statistics.median(v) for stack, v in per_round.items()},
        "server_cpu_us_per_request": cpu_us,
        "median_cpu_us": {stack: statistics.median(v) for stack, v in cpu_us.items()},
        "ratio_to_baseline": {stack: statistics.median(v) for stack, v in ratios.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="load per stack and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--serve", choices=STACKS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.port)
        return 0
    result = measure(args.seconds, args.rounds, args.concurrency)
    if args.format == "json":
        print(json.dumps(result))
        return 0
    print(
        f"POST /v1/chat/completions behind the guard, {args.concurrency} in flight, "
        f"{args.seconds:g} s x {args.rounds} rounds per stack"
    )
    for stack in STACKS:
        rounds = ", ".join(f"{v:.0f}" for v in result["rps"][stack])
        print(
            f"  {NAMES[stack]:<20} {result['median_rps'][stack]:6.0f} req/s median ({rounds});"
            f"  {result['ratio_to_baseline'][stack]:.2f}x {NAMES[BASELINE]};"
            f"  server CPU {result['median_cpu_us'][stack]:.0f} us/request"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
