"""``lakeinfer ui``: the local web workspace over the lakehouse the CLI uses."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=0, help="Port (default: a free one).")
@click.option(
    "--token",
    envvar="LAKEINFER_UI_TOKEN",
    help="Require this token ($LAKEINFER_UI_TOKEN); a random one is made when --host is not "
    "a loopback address.",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@click.option(
    "--reports",
    "report_dirs",
    multiple=True,
    type=click.Path(file_okay=False, exists=True),
    help="A folder of HTML evaluation/benchmark reports to list (besides <home>/_reports); "
    "repeatable.",
)
@click.pass_context
def ui(
    ctx: click.Context,
    host: str,
    port: int,
    token: str | None,
    no_browser: bool,
    report_dirs: tuple[str, ...],
) -> None:
    """Open the web workspace: SQL editor, live AI progress and cost, catalog, history,
    endpoints, jobs, streams and reports.

    \b
    Examples:
      lakeinfer ui
      lakeinfer ui --no-browser --port 8765
      lakeinfer ui --host 0.0.0.0          # prints an address with its token
    """
    from lakeinfer.cli import _friendly_errors, _session
    from lakeinfer.errors import ConfigError

    @_friendly_errors
    def run() -> None:
        try:
            from lakeinfer.ui.server import serve
        except ImportError as exc:
            raise ConfigError(
                f"the workspace needs the web server packages ({exc.name} is missing): "
                "pip install 'lakeinfer[ui]'"
            ) from None

        with _session(ctx.obj) as session:
            serve(
                session,
                host=host,
                port=port,
                token=token,
                open_browser=not no_browser and not os.environ.get("CI"),
                report_dirs=[Path(d) for d in report_dirs],
                say=lambda message: click.echo(message, err=True),
            )

    run()
