"""Sending a request over a pool of kept-alive connections that the server may have closed.

A server may close an idle kept-alive connection at any moment (llama-server closes some right
after a streamed answer). The client finds out only when it writes the next request on it, and
that request fails before the server ever saw it, so it is safe to send again at once. Each
stale connection fails once and is dropped from the pool, so a request that is sent again once
per pooled connection reaches a fresh one. A connection that cannot be made at all is not stale
and is never retried here, nor is a failure that comes later than :data:`STALE_WINDOW_S` after
sending: the server had the request, and may have worked on it (a server that died
mid-answer), so that is the endpoint's failure, retried and counted by the caller.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

#: Sent again at least this many times, even from a pool with fewer connections.
MIN_STALE_RETRIES = 2
#: A stale connection fails as the request is written or at once after (the server's reset
#: arrives within a round trip); a failure later than this many seconds is not a stale one.
STALE_WINDOW_S = 1.0


async def post(client: aiohttp.ClientSession, url: str, **kwargs: Any) -> aiohttp.ClientResponse:
    """``client.post(url, **kwargs)``, sent again when a pooled connection turns out to be
    closed before any answer arrived. Use the result with ``async with``."""
    connector = client.connector
    retries = max(MIN_STALE_RETRIES, connector.limit if connector is not None else 0)
    for attempt in range(retries + 1):
        sent = time.monotonic()
        try:
            return await client.post(url, **kwargs)
        except aiohttp.ClientConnectorError:
            raise  # no connection could be made at all: not a stale one
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            if attempt == retries or time.monotonic() - sent > STALE_WINDOW_S:
                raise
    raise AssertionError("unreachable")
