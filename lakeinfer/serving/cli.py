"""``lakeinfer serve``: the session's endpoints over HTTP."""

from __future__ import annotations

import os
import signal
import threading

import click

from lakeinfer.errors import ConfigError
from lakeinfer.serving.server import DEFAULT_HOST, DEFAULT_PORT, InferenceServer


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="0: any free.")
@click.option(
    "--token-env",
    help="Environment variable holding the bearer token clients must send "
    "(required when --host is not a loopback address).",
)
@click.option(
    "--endpoint",
    "names",
    multiple=True,
    help="Serve only this endpoint (repeatable; default: all configured and built-in ones).",
)
@click.pass_obj
def serve(ctx: object, host: str, port: int, token_env: str | None, names: tuple[str]) -> None:
    """Serve the configured endpoints over HTTP until interrupted.

    \b
    OpenAI-compatible routes (model = the endpoint name):
      GET /v1/models, POST /v1/chat/completions, /v1/completions, /v1/embeddings
    Databricks Model Serving:
      POST /serving-endpoints/NAME/invocations   (dataframe_records, inputs, ...)

    \b
    Example:
      lakeinfer serve --port 8000
      python -c "import openai; c = openai.OpenAI(base_url='http://127.0.0.1:8000/v1',
          api_key='-'); print(c.embeddings.create(model='databricks-gte-large-en',
          input=['hello']).data[0].embedding[:3])"
    """
    # lakeinfer.cli imports this module to register the command: import it only when run
    from lakeinfer import cli

    cli._friendly_errors(_serve)(ctx, host, port, token_env, names)


def _serve(ctx: object, host: str, port: int, token_env: str | None, names: tuple[str]) -> None:
    from lakeinfer import cli

    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise ConfigError(f"environment variable {token_env} is not set (the bearer token)")
    stop = threading.Event()
    with cli._session(ctx) as session:
        server = InferenceServer(
            session, host=host, port=port, token=token, names=list(names) or None
        )
        server.start()
        try:
            if not ctx.quiet:  # type: ignore[attr-defined]
                cli._say(
                    f"serving {len(server.endpoints.names)} endpoints at {server.url}/v1 "
                    f"and {server.url}/serving-endpoints/NAME/invocations"
                    + (" (bearer token required)" if token else "")
                    + "; Ctrl-C stops"
                )
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
