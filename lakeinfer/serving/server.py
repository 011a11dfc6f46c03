"""Runs the :mod:`lakeinfer.serving.app` routes over a session's endpoints.

Bound to 127.0.0.1 by default, and every request must carry a bearer token: the one given,
or a random one made at start (see :mod:`lakeinfer.serving.guard`). Only on a loopback address
may the token be turned off, explicitly. The server runs on the session's background event
loop, next to the providers it calls.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lakeinfer.redaction import register
from lakeinfer.serving.app import ServedEndpoints, build_app
from lakeinfer.serving.defaults import DEFAULT_HOST, DEFAULT_PORT
from lakeinfer.serving.guard import Guard, is_loopback, required_token
from lakeinfer.serving.listen import listen

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "InferenceServer", "is_loopback", "server_token"]


def server_token(host: str, token: str | None, require_token: bool = True) -> str | None:
    """The token a server on ``host`` requires: ``token`` when given, else a fresh random one;
    None only when ``require_token`` is False (allowed on a loopback address only)."""
    return required_token(host, token, require_token, "the endpoints")


class InferenceServer:
    """``lakeinfer serve`` as an object: :meth:`start`, :attr:`url`, :meth:`stop`.

    ``names``: the endpoints to expose (default: every endpoint the session knows).
    ``port`` 0 picks a free port. ``token``: the bearer token clients must send; without one a
    random token is made (:attr:`token`). ``require_token=False`` serves without a token, on a
    loopback address only: then any local program can call the endpoints.
    """

    def __init__(
        self,
        session: Any,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        token: str | None = None,
        require_token: bool = True,
        names: list[str] | None = None,
    ):
        #: the bearer token every request must carry (None: served without one)
        self.token = server_token(host, token, require_token)
        register(self.token)
        self.session = session
        self.host = host
        self.port = port
        self.endpoints = ServedEndpoints(session, names)
        self._app = build_app(self.endpoints, Guard.for_server(host, self.token))
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
        self._runner, self.port = await listen(self._app, self.host, self.port)

    def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            self.session.loop.run(runner.cleanup())

    def __enter__(self) -> InferenceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
