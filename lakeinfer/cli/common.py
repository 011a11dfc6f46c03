"""What every ``lakeinfer`` command shares: the context of the root options, the session,
output formats, notices and error reporting.

Command modules (here and in the features) import from this module only; it imports nothing
of theirs, and nothing heavy until a command runs.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from lakeinfer.errors import LakeinferError
from lakeinfer.redaction import redact

if TYPE_CHECKING:
    from lakeinfer.session import Session

FORMATS = click.Choice(["table", "json", "csv"])


def format_option(help: str | None = None) -> Callable[[Any], Any]:
    """The ``--format table|json|csv`` option every command that prints results takes (its
    value arrives as ``fmt``)."""
    return click.option(
        "--format", "fmt", type=FORMATS, default="table", show_default=True, help=help
    )


"""The ``--format`` choices of every command printing a table."""


class Context:
    """The root options (``--home``, ``--debug``, ``--quiet``), passed to commands as ``obj``."""

    def __init__(self, home: str | None, debug: bool, quiet: bool):
        self.home = home
        self.debug = debug
        self.quiet = quiet


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn exceptions into one-line messages unless ``--debug`` was given.

    A lakeinfer error prints ``error: ...`` and exits 1; any other exception prints ``internal
    error: ...`` (redacted) and exits 2; Ctrl-C prints ``interrupted`` and exits 130.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context().find_object(Context)
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise
        except LakeinferError as exc:
            if ctx is not None and ctx.debug:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # an internal error: still no traceback without --debug
            if ctx is not None and ctx.debug:
                raise
            click.echo(
                f"internal error: {exc.__class__.__name__}: {redact(str(exc))} "
                "(run with --debug for the traceback)",
                err=True,
            )
            sys.exit(2)

    return wrapper


def open_session(ctx: Context, **extra: Any) -> Session:
    """A session on ``--home``, silent on stderr with ``--quiet``."""
    from lakeinfer.session import Session

    notice = (lambda message: None) if ctx.quiet else None
    options: dict[str, Any] = {"progress": False if ctx.quiet else None, **extra}
    if notice is not None:
        options["notice"] = notice
    return Session(ctx.home, **options)


def emit(result_table: Any, fmt: str, file: Any = None) -> None:
    """Write an Arrow table to ``file`` (stdout) in one of :data:`FORMATS`."""
    from lakeinfer.output import render_table, write_csv, write_json_lines

    file = file or sys.stdout
    if fmt == "json":
        write_json_lines(result_table, file)
    elif fmt == "csv":
        write_csv(result_table, file)
    else:
        render_table(result_table, file=file)


def say(message: str) -> None:
    """A line on stderr, even with ``--quiet`` (for what the user must see)."""
    click.echo(message, err=True)


def notice(ctx: Any, message: str) -> None:
    """A line on stderr, unless ``--quiet``."""
    if not getattr(ctx, "quiet", False):
        click.echo(message, err=True)


def with_options(options: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """Apply a list of ``click.option`` decorators in order, as if written one above another."""

    def decorate(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate
