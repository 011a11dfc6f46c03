"""Serving the workspace: a free port on 127.0.0.1 by default, a token, a browser.

:class:`WorkspaceServer` runs the server on a background thread (tests, notebooks) until
:meth:`WorkspaceServer.stop`; :func:`serve` runs one until interrupted.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
import webbrowser
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lakeinfer.errors import ConfigError
from lakeinfer.serving.guard import required_token
from lakeinfer.serving.listen import listen
from lakeinfer.session import Session
from lakeinfer.ui.app import RUNS, create_app

STARTUP_TIMEOUT_S = 15.0
#: how long stopping waits for requests still being answered (an event stream, a health check)
SHUTDOWN_TIMEOUT_S = 3.0
#: worker threads for the handlers that read the lakehouse or wait for an endpoint
WORKERS = 40


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]"), 0))
        return probe.getsockname()[1]


def workspace_token(host: str, token: str | None, require_token: bool = True) -> str | None:
    """The token to require: the one given, else a fresh random one; None only when
    ``require_token`` is False, which a loopback ``host`` alone allows."""
    return required_token(host, token, require_token, "the workspace")


class WorkspaceServer:
    """The workspace over ``session`` on ``host:port`` (port 0: a free one), on a thread.

    Every request must carry :attr:`token` (the one given, else a random one; :attr:`url`
    carries it); ``require_token=False`` turns that off, on a loopback address only.
    ``session`` must be sandboxed (``lakeinfer.connect(home, sandboxed=True)``): the
    workspace's SQL comes from the network.
    """

    def __init__(
        self,
        session: Session,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        report_dirs: list[Path] | None = None,
        *,
        require_token: bool = True,
    ):
        if getattr(session, "sandbox", None) is None:
            raise ConfigError(
                "the workspace runs SQL sent over HTTP: open its session with "
                "lakeinfer.connect(home, sandboxed=True)"
            )
        self.session = session
        self.host = host
        self.port = port or free_port(host)
        self.token = workspace_token(host, token, require_token)
        self._app = create_app(session, token=self.token, host=host, report_dirs=report_dirs)
        #: the runs of the workspace's editor
        self.runs = self._app[RUNS]
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._listening = threading.Event()
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        """The address to open (with ``?token=`` when a token is required)."""
        shown = "127.0.0.1" if self.host == "0.0.0.0" else self.host
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        base = f"http://{shown}:{self.port}/"
        return f"{base}?token={self.token}" if self.token else base

    def start(self) -> WorkspaceServer:
        self._thread = threading.Thread(target=self._run, name="lakeinfer-ui", daemon=True)
        self._thread.start()
        if not self._listening.wait(STARTUP_TIMEOUT_S) or self._failure is not None:
            self.stop()
            failure = self._failure
            if isinstance(failure, OSError) and failure.errno:
                failure = os.strerror(failure.errno).lower()  # without asyncio's wording
            reason = f": {failure}" if failure is not None else ""
            raise ConfigError(f"the workspace could not listen on {self.host}:{self.port}{reason}")
        return self

    def stop(self) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:
                pass  # the loop has just closed
        if self._thread is not None:
            self._thread.join(timeout=10)
        # the session may be closed next: the statement still running must stop first
        self.runs.close()

    def _run(self) -> None:
        """The server thread: its own event loop, until :meth:`stop`."""
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._failure = exc
        finally:
            self._listening.set()

    async def _serve(self) -> None:
        self._loop, self._stopped = asyncio.get_running_loop(), asyncio.Event()
        workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="lakeinfer-ui")
        self._loop.set_default_executor(workers)
        runner, _ = await listen(
            self._app, self.host, self.port, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        try:
            self._listening.set()
            await self._stopped.wait()
        finally:
            await runner.cleanup()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> WorkspaceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    session: Session,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    open_browser: bool = True,
    report_dirs: list[Path] | None = None,
    say: Callable[[str], object] = print,
    *,
    require_token: bool = True,
) -> None:
    """Serve the workspace until interrupted (Ctrl-C or SIGTERM), printing its address (with
    its token) once it listens, and opening it in a browser."""
    server = WorkspaceServer(
        session, host, port, token, report_dirs, require_token=require_token
    ).start()
    if server.token is None:
        say(
            "WARNING: the workspace runs WITHOUT a token (--no-token): any program or user on "
            "this machine can run SQL and call endpoints through it"
        )
    say(f"lakeinfer workspace on {server.url} (lakehouse {session.home}); Ctrl-C stops it")
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        if open_browser:
            webbrowser.open(server.url)
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if main:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
