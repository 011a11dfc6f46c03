"""``lakeinfer serve``: the session's endpoints over HTTP."""

from __future__ import annotations

import os
import signal
import threading

import click

from lakeinfer.cli.common import friendly_errors, open_session, say
from lakeinfer.errors import ConfigError
from lakeinfer.serving.defaults import DEFAULT_HOST, DEFAULT_PORT


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="0: any free.")
@click.option(
    "--token-env",
    help="Environment variable holding the bearer token clients must send "
    "(default: a random token, printed at start).",
)
@click.option(
    "--no-token",
    is_flag=True,
    help="Serve without a token (loopback only): any program on this machine can then call "
    "the endpoints.",
)
@click.option(
    "--endpoint",
    "names",
    multiple=True,
    help="Serve only this endpoint (repeatable; default: all configured and built-in ones).",
)
@click.pass_obj
@friendly_errors
def serve(
    ctx: object,
    host: str,
    port: int,
    token_env: str | None,
    no_token: bool,
    names: tuple[str],
) -> None:
    """Serve the configured endpoints over HTTP until interrupted.

    \b
    OpenAI-compatible routes (model = the endpoint name):
      GET /v1/models, POST /v1/chat/completions, /v1/completions, /v1/embeddings
    Databricks Model Serving:
      POST /serving-endpoints/NAME/invocations   (dataframe_records, inputs, ...)

    \b
    Every request needs 'Authorization: Bearer TOKEN' (OpenAI clients: api_key=TOKEN):
    the token in the environment variable --token-env names, else a random one printed at
    start. Requests naming another Host than the loopback address, or sent from a web page of
    another origin, are refused.

    \b
    Example:
      export SERVE_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(24))")
      lakeinfer serve --port 8000 --token-env SERVE_TOKEN
      python -c "import openai, os; c = openai.OpenAI(base_url='http://127.0.0.1:8000/v1',
          api_key=os.environ['SERVE_TOKEN']); print(c.embeddings.create(
          model='databricks-gte-large-en', input=['hello']).data[0].embedding[:3])"
    """
    from lakeinfer.serving.server import InferenceServer

    token = None
    if token_env and no_token:
        raise ConfigError("--token-env and --no-token contradict each other: pick one")
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise ConfigError(f"environment variable {token_env} is not set (the bearer token)")
    stop = threading.Event()
    with open_session(ctx) as session:
        server = InferenceServer(
            session,
            host=host,
            port=port,
            token=token,
            require_token=not no_token,
            names=list(names) or None,
        )
        server.start()
        try:
            # before anything is printed: whoever reads the address may stop the server at once
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            if server.token is None:  # said even with --quiet: the user must know
                say(
                    "WARNING: serving WITHOUT a token (--no-token): any program or user on "
                    "this machine can call these endpoints and spend their quota"
                )
            if not ctx.quiet:  # type: ignore[attr-defined]
                say(
                    f"serving {len(server.endpoints.names)} endpoints at {server.url}/v1 "
                    f"and {server.url}/serving-endpoints/NAME/invocations"
                    + (" (bearer token required)" if server.token else "")
                    + "; Ctrl-C stops"
                )
            if server.token is not None and token is None:
                # a token made here: the user can only learn it from this line
                say(
                    f"clients send 'Authorization: Bearer {server.token}' "
                    f"(OpenAI clients: api_key='{server.token}')"
                )
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()


def register_commands(cli: click.Group) -> None:
    cli.add_command(serve)
