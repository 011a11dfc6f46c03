"""Runs the :mod:`lakeinfer.serving.app` routes over a session's endpoints.

Bound to 127.0.0.1 by default. Binding any other address requires a bearer token, so local
models are never exposed to the network unauthenticated. The server runs on the session's
background event loop, next to the providers it calls.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from lakeinfer.errors import ConfigError
from lakeinfer.redaction import register
from lakeinfer.serving.app import ServedEndpoints, build_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class InferenceServer:
    """``lakeinfer serve`` as an object: :meth:`start`, :attr:`url`, :meth:`stop`.

    ``names``: the endpoints to expose (default: every endpoint the session knows).
    ``port`` 0 picks a free port. ``token``: the bearer token clients must send; required
    unless ``host`` is a loopback address.
    """

    def __init__(
        self,
        session: Any,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        token: str | None = None,
        names: list[str] | None = None,
    ):
        if not is_loopback(host) and not token:
            raise ConfigError(
                f"refusing to serve on {host} without a bearer token: set one in an "
                f"environment variable and pass --token-env NAME (or bind 127.0.0.1)"
            )
        register(token)
        self.session = session
        self.host = host
        self.port = port
        self.endpoints = ServedEndpoints(session, names)
        self._app = build_app(self.endpoints, token)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The server's root URL; OpenAI clients use ``url + "/v1"`` as their base URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> InferenceServer:
        self.session.loop.run(self._start())
        return self

    async def _start(self) -> None:
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]

    def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            self.session.loop.run(runner.cleanup())

    def __enter__(self) -> InferenceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
