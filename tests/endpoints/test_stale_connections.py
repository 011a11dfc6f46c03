"""A request that meets a kept-alive connection the server has dropped is sent again."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from lakeinfer.endpoints import stale_connections

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


class OneAnswerPerConnection(asyncio.Protocol):
    """Answers the first request on a connection and promises to keep it alive, then drops the
    connection unanswered when the next request arrives (as a server closing an idle
    connection at the moment the client reuses it)."""

    connections = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        type(self).connections += 1
        self.transport = transport
        self.answered = False

    def data_received(self, data: bytes) -> None:
        if self.answered:
            self.transport.close()
        else:
            self.answered = True
            self.transport.write(ANSWER)


async def _two_waves(send, pool: int) -> list[str]:
    OneAnswerPerConnection.connections = 0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(OneAnswerPerConnection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    results: list[str] = []
    connector = aiohttp.TCPConnector(limit=pool, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def one() -> None:
            try:
                async with await send(client, url, data=b"{}") as response:
                    results.append(await response.text())
            except aiohttp.ClientError as exc:
                results.append(type(exc).__name__)

        for _ in range(2):
            await asyncio.gather(*(one() for _ in range(pool)))
    server.close()
    await server.wait_closed()
    return results


def test_every_request_is_answered_though_each_reused_connection_is_dropped():
    results = asyncio.run(_two_waves(stale_connections.post, pool=4))
    assert results == ["ok"] * 8
    # the first wave's four connections, then one dropped reuse and one fresh per request
    assert OneAnswerPerConnection.connections == 8


def test_without_it_the_second_wave_fails():
    """The server above really drops reused connections: a plain POST fails on them."""

    async def plain(client, url, **kwargs):
        return await client.post(url, **kwargs)

    results = asyncio.run(_two_waves(plain, pool=4))
    assert results[:4] == ["ok"] * 4
    assert "ok" not in results[4:]


def test_a_server_that_cannot_be_reached_is_not_retried():
    async def main() -> None:
        async with aiohttp.ClientSession() as client:
            with pytest.raises(aiohttp.ClientConnectorError):
                await stale_connections.post(client, "http://127.0.0.1:9/", data=b"{}")

    asyncio.run(main())


class DropsAfterAWhile(asyncio.Protocol):
    """Takes every request and drops its connection unanswered a moment later (a server
    that died while working on it)."""

    connections = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        type(self).connections += 1
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        asyncio.get_running_loop().call_later(0.3, self.transport.close)


def test_a_request_dropped_after_the_server_had_it_is_not_sent_again(monkeypatch):
    monkeypatch.setattr(stale_connections, "STALE_WINDOW_S", 0.1)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(DropsAfterAWhile, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with aiohttp.ClientSession() as client:
                with pytest.raises(aiohttp.ServerDisconnectedError):
                    await stale_connections.post(client, f"http://127.0.0.1:{port}/", data=b"{}")
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())
    assert DropsAfterAWhile.connections == 1
