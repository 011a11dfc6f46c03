"""The lean HTTP/1.1 client against a raw socket server that answers in chosen ways."""

from __future__ import annotations

import asyncio
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from lakeinfer.endpoints.http1 import ConnectionClosedError, Http1Client, MalformedResponseError

ANSWERS = {
    b"/plain": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"/chunked": (
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    ),
    b"/close": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    b"/garbage": b"NOT HTTP AT ALL\r\n\r\n",
    b"/cut": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part",
}


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]
        while True:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = self.rfile.readline()
                if not line:
                    return
                head += line
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            self.server.seen.append(head + self.rfile.read(length))  # type: ignore[attr-defined]
            path = head.split(b" ")[1]
            if path == b"/slow":
                time.sleep(0.6)
                return
            self.wfile.write(ANSWERS[path])
            self.wfile.flush()
            if path in (b"/close", b"/cut", b"/garbage"):
                return


@contextmanager
def _server() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.seen, server.connections = [], 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_posts_reuse_one_connection_and_read_every_framing():
    async def run(port: int) -> list[tuple[int, str | None, bytes]]:
        client = Http1Client("127.0.0.1", port, {"Authorization": "Bearer k"}, timeout_s=5)
        try:
            return [
                await client.post(path, body)
                for path, body in [
                    ("/plain", b'{"a": 1}'),
                    ("/chunked", b"{}"),
                    ("/plain", b"{}"),
                    ("/close", b"{}"),
                    ("/plain", b"{}"),
                ]
            ]
        finally:
            client.close()

    with _server() as server:
        answers = asyncio.run(run(server.server_address[1]))
    assert answers == [
        (200, None, b"hello"),
        (429, "2", b"abcdefg"),
        (200, None, b"hello"),
        (200, None, b"ok"),
        (200, None, b"hello"),
    ]
    assert server.connections == 2  # one until the server said Connection: close, then another
    assert server.seen[0].startswith(b"POST /plain HTTP/1.1\r\nHost: 127.0.0.1:")
    assert server.seen[0].endswith(
        b"\r\nAuthorization: Bearer k\r\nContent-Length: 8\r\n\r\n" + b'{"a": 1}'
    )


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/garbage", MalformedResponseError),
        ("/cut", ConnectionClosedError),
        ("/slow", TimeoutError),
    ],
)
def test_broken_answers_and_timeouts_raise(path, error):
    async def run(port: int) -> None:
        client = Http1Client("127.0.0.1", port, {}, timeout_s=0.3)
        try:
            with pytest.raises(error):
                await client.post(path, b"{}")
            assert not client._idle  # a failed connection is never reused
        finally:
            client.close()

    with _server() as server:
        asyncio.run(run(server.server_address[1]))


def test_an_unreachable_server_raises_a_connection_error():
    with _server() as server:
        port = server.server_address[1]

    async def run() -> None:
        with pytest.raises(OSError):
            await Http1Client("127.0.0.1", port, {}, timeout_s=1).post("/x", b"{}")

    asyncio.run(run())
