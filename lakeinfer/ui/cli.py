"""``lakeinfer ui``: the local web workspace over the lakehouse the CLI uses."""

from __future__ import annotations

import os
from pathlib import Path

import click

from lakeinfer.cli.common import friendly_errors, open_session


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=0, help="Port (default: a free one).")
@click.option(
    "--token",
    envvar="LAKEINFER_UI_TOKEN",
    help="Require this token (better given as $LAKEINFER_UI_TOKEN, which other users cannot "
    "see); default: a random one, in the address printed and opened.",
)
@click.option(
    "--no-token",
    is_flag=True,
    help="Require no token (loopback only): any program or user on this machine can then run "
    "SQL through the workspace.",
)
@click.option(
    "--allow-dir",
    "allowed_dirs",
    multiple=True,
    type=click.Path(file_okay=False, exists=True),
    help="A directory the workspace's SQL may read files from (read_files, read_csv, ...), "
    "besides the lakehouse; repeatable.",
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
    no_token: bool,
    allowed_dirs: tuple[str, ...],
    no_browser: bool,
    report_dirs: tuple[str, ...],
) -> None:
    """Open the web workspace: SQL editor, live AI progress and cost, catalog, history,
    endpoints, jobs, streams and reports.

    The address printed and opened carries the workspace's token (?token=...), as Jupyter's
    does. The workspace's SQL reads files only under the lakehouse and --allow-dir
    directories, and installs or loads no DuckDB extension.

    \b
    Examples:
      lakeinfer ui
      lakeinfer ui --no-browser --port 8765
      lakeinfer ui --allow-dir ./data       # read_files('data/...') from the editor
      lakeinfer ui --host 0.0.0.0           # reachable from elsewhere
    """
    from lakeinfer.errors import ConfigError

    @friendly_errors
    def run() -> None:
        if no_token and token:
            raise ConfigError("--token and --no-token contradict each other: pick one")
        from lakeinfer.ui.server import serve

        session = open_session(ctx.obj, sandboxed=True, allowed_directories=allowed_dirs)
        with session:
            serve(
                session,
                host=host,
                port=port,
                token=token,
                open_browser=not no_browser and not os.environ.get("CI"),
                report_dirs=[Path(d) for d in report_dirs],
                say=lambda message: click.echo(message, err=True),
                require_token=not no_token,
            )

    run()


def register_commands(cli: click.Group) -> None:
    cli.add_command(ui)
