"""Starting an aiohttp application on an address: what both of lakeinfer's servers
(``lakeinfer serve`` and ``lakeinfer ui``) do, on the event loop that runs them."""

from __future__ import annotations

from aiohttp import web

#: aiohttp's own default: how long stopping waits for requests still being answered
SHUTDOWN_TIMEOUT_S = 60.0


async def listen(
    app: web.Application, host: str, port: int, *, shutdown_timeout: float = SHUTDOWN_TIMEOUT_S
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (port 0: a free one) on the running loop, without access
    logs or signal handlers. Returns the runner (``await runner.cleanup()`` stops it) and the
    port it listens on."""
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host.strip("[]"), port).start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses = runner.addresses
    return runner, addresses[0][1] if addresses else port
