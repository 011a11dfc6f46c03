"""A lean HTTP/1.1 client for plain ``http://`` endpoints: keep-alive POSTs, nothing else.

At thousands of requests a second the client's CPU per request decides the throughput: a
general-purpose client (aiohttp) spends about 0.2 ms of CPU on each, mostly on features a
JSON POST to a model server does not use (cookies, redirects, proxies, tracing, multipart).
This one writes each request in one ``write`` on a pooled connection and parses the answer
with ``httptools`` (llhttp, the parser of Node.js), about a third of the cost. TLS endpoints
keep using aiohttp.

A connection is reused only after a complete response the server agreed to keep alive, and
not after sitting idle for ``IDLE_S`` (servers close idle connections; reusing one they are
closing fails the request; the scheduler retries it). A request is never sent twice here.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import httptools

#: Idle connections older than this are closed rather than reused (uvicorn, behind vLLM and
#: many servers, closes them after 5 s).
IDLE_S = 4.0


class ConnectionClosedError(ConnectionError):
    """The server closed the connection before the whole answer arrived."""


class MalformedResponseError(ConnectionError):
    """The answer was not valid HTTP/1.1."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[tuple[int, str | None, bytes]] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._retry_after: str | None = None
        self._received = False
        self._complete = False
        self._keep_alive = False

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(MalformedResponseError(f"invalid HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(
                ConnectionClosedError("the server closed the connection without answering")
                if not self._received
                else ConnectionClosedError("the server closed the connection mid-answer")
            )

    # -- httptools callbacks -------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 11 and name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            waiter.set_result((self._parser.get_status_code(), self._retry_after, body))

    # -- use -----------------------------------------------------------------------------
    def send(self, request: bytes) -> asyncio.Future[tuple[int, str | None, bytes]]:
        """Write ``request``; the future resolves to ``(status, Retry-After, body)``."""
        assert self.transport is not None
        self._body = []
        self._retry_after = None
        self._received = self._complete = self._keep_alive = False
        self._waiter = self.loop.create_future()
        self.transport.write(request)
        return self._waiter

    @property
    def reusable(self) -> bool:
        return self._complete and self._keep_alive and not self.closed

    def _fail(self, error: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http1Client:
    """POSTs to one ``host:port`` over pooled keep-alive connections (one event loop)."""

    def __init__(self, host: str, port: int, headers: dict[str, str], timeout_s: float):
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        lines = [f"Host: [{host}]:{port}" if ":" in host else f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._head = "\r\n".join(lines)
        self._idle: deque[_Connection] = deque()
        self._pending: dict[asyncio.Future[tuple[int, str | None, bytes]], float] = {}
        self._tick = min(1.0, max(0.01, timeout_s / 10))
        self._watch: asyncio.Task[None] | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, str | None, bytes]:
        """Send one POST; returns ``(status, Retry-After header or None, body)``.

        Raises ``TimeoutError`` after ``timeout_s`` (checked every ``timeout_s / 10``, at most
        every second), ``ConnectionError`` (or ``OSError``) when
        the server cannot be reached or drops the connection.
        """
        request = (
            f"POST {path} HTTP/1.1\r\n{self._head}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        connection = self._pooled() or await self._connect(loop, deadline)
        return await self._exchange(connection, request, deadline)

    def _pooled(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: least likely to be closed
            if not connection.closed and now - connection.idle_since < IDLE_S:
                return connection
            connection.close()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        try:
            async with asyncio.timeout_at(deadline):
                _, protocol = await loop.create_connection(
                    lambda: _Connection(loop), self.host, self.port
                )
        except TimeoutError:
            raise TimeoutError(f"connecting took over {self.timeout_s:g}s") from None
        return protocol

    async def _exchange(
        self, connection: _Connection, request: bytes, deadline: float
    ) -> tuple[int, str | None, bytes]:
        waiter = connection.send(request)
        pending = self._pending
        pending[waiter] = deadline
        if self._watch is None or self._watch.done():
            self._watch = connection.loop.create_task(self._expire())
        try:
            answer = await waiter
        except BaseException:  # timed out, cancelled, failed: the connection's state is unknown
            connection.close()
            raise
        finally:
            del pending[waiter]
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    async def _expire(self) -> None:
        """Fail the requests past their deadline, checking every ``tick`` seconds while any
        is in flight (one periodic check is cheaper than a timer per request)."""
        loop = asyncio.get_running_loop()
        while self._pending:
            await asyncio.sleep(self._tick)
            now = loop.time()
            for waiter, deadline in list(self._pending.items()):
                if deadline <= now and not waiter.done():
                    waiter.set_exception(TimeoutError())

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()
        if self._watch is not None:
            self._watch.cancel()
