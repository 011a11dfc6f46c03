"""``lakeinfer endpoints create|update|list|delete``: the endpoints in <home>/config.toml."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from lakeinfer.cli.common import (
    Context,
    emit,
    format_option,
    friendly_errors,
    with_options,
)


@click.group()
def endpoints() -> None:
    """Manage the model endpoints ai_query can call (stored in <home>/config.toml).

    \b
    Secrets are never stored: --api-key-env names the environment variable
    that holds the key.
    """


def _endpoint_options(creating: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options of `endpoints create` (required ones enforced) and `endpoints update`."""
    options = [
        click.option(
            "--provider",
            default="openai" if creating else None,
            help="openai: any OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI); "
            "databricks: a Databricks serving endpoint; sentence-transformers, transformers, "
            "mlflow: a local model; or an installed third-party provider.",
        ),
        click.option(
            "--base-url",
            help="openai: base URL with the version, e.g. http://127.0.0.1:8000/v1; "
            "databricks: the workspace URL.",
        ),
        click.option(
            "--model",
            help="Model name sent in each request (databricks: the serving endpoint; "
            "sentence-transformers, transformers: the model directory).",
        ),
        click.option("--model-uri", help="mlflow: the model URI (path, runs:/..., models:/...)."),
        click.option(
            "--task",
            type=click.Choice(
                ["chat", "embeddings", "token-classification", "text-classification", "custom"]
            ),
            help="chat: ai_query returns STRING; embeddings: ARRAY<FLOAT>; "
            "token-classification, text-classification: transformers pipelines; custom: "
            "a custom model (default: the provider's first task).",
        ),
        click.option("--max-batch", type=int, help="Requests per model call (batch size)."),
        click.option(
            "--option",
            "options",
            multiple=True,
            help="Provider setting KEY=VALUE (repeatable), e.g. aggregation_strategy=simple.",
        ),
        click.option(
            "--api-key-env",
            help="Environment variable holding the API key (sent as a bearer token).",
        ),
        click.option(
            "--max-concurrency", type=int, help="Requests in flight at once (default 64)."
        ),
        click.option("--requests-per-minute", type=float, help="Request rate limit."),
        click.option("--input-tokens-per-minute", type=float, help="Input token rate limit."),
        click.option("--output-tokens-per-minute", type=float, help="Output token rate limit."),
        click.option(
            "--timeout", "timeout_s", type=float, help="Seconds per request (default 120)."
        ),
        click.option(
            "--max-retries", type=int, help="Retries of 429/5xx/network failures (default 3)."
        ),
        click.option(
            "--price-input",
            "price_input_per_million",
            type=float,
            help="USD per million input tokens (for cost estimates).",
        ),
        click.option(
            "--price-output",
            "price_output_per_million",
            type=float,
            help="USD per million output tokens.",
        ),
        click.option(
            "--price-batch-input",
            "price_batch_input_per_million",
            type=float,
            help="USD per million input tokens answered in a batch (default: half --price-input).",
        ),
        click.option(
            "--price-batch-output",
            "price_batch_output_per_million",
            type=float,
            help="USD per million output tokens answered in a batch (default: half "
            "--price-output).",
        ),
        click.option(
            "--batch-mode",
            type=click.Choice(["auto", "on", "off"]),
            help="Send requests through the server's Files + Batches API (OpenAI's): auto for "
            "CREATE TABLE AS and INSERT from lakeinfer.batch_min_requests requests, on for every "
            "statement (default: SET lakeinfer.batch_mode, 'off').",
        ),
        click.option(
            "--log-requests/--no-log-requests",
            default=None,
            help="Record each request in system.ai.inference_log.",
        ),
    ]

    return with_options(options)


@endpoints.command("create")
@click.argument("name")
@_endpoint_options(creating=True)
@click.option("--replace", is_flag=True, help="Overwrite an existing endpoint of that name.")
@click.pass_obj
@friendly_errors
def endpoints_create(ctx: Context, name: str, replace: bool, **fields: Any) -> None:
    """Create (or with --replace, overwrite) the endpoint NAME.

    \b
    Example:
      lakeinfer endpoints create my-llm --base-url http://127.0.0.1:8000/v1 \\
          --model meta-llama/Llama-3.1-8B-Instruct --max-concurrency 128 \\
          --requests-per-minute 600 --api-key-env MY_LLM_KEY
    """
    from lakeinfer.config import (
        ConfigError,
        load_config,
        make_endpoint,
        resolve_home,
        save_config,
        validate_endpoint_name,
    )

    home = resolve_home(ctx.home)
    config = load_config(home)
    validate_endpoint_name(name)
    if name in config.endpoints and not replace:
        raise ConfigError(f"endpoint {name!r} already exists (use --replace to overwrite it)")
    fields["options"] = _options(fields.get("options"))
    endpoint = make_endpoint(name, **fields)
    config.endpoints[name] = endpoint
    save_config(home, config)
    where = endpoint.model_uri or endpoint.model
    if endpoint.base_url:
        where = f"{where} at {endpoint.base_url}"
    click.echo(f"created endpoint {name!r} ({endpoint.provider}, {endpoint.task}, {where})")


def _options(pairs: tuple[str, ...] | None) -> dict[str, Any] | None:
    """``KEY=VALUE`` pairs as a dict (values parsed as JSON where they are, else text)."""
    if not pairs:
        return None
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


@endpoints.command("update")
@click.argument("name")
@_endpoint_options(creating=False)
@click.pass_obj
@friendly_errors
def endpoints_update(ctx: Context, name: str, **fields: Any) -> None:
    """Change some settings of the endpoint NAME (the others stay as they are)."""
    from lakeinfer.config import load_config, make_endpoint, resolve_home, save_config
    from lakeinfer.errors import UnknownEndpointError

    home = resolve_home(ctx.home)
    config = load_config(home)
    if name not in config.endpoints:
        raise UnknownEndpointError(name, config.endpoints)
    fields["options"] = _options(fields.get("options"))
    changes = {k: v for k, v in fields.items() if v is not None}
    merged = {**config.endpoints[name].model_dump(), **changes}
    config.endpoints[name] = make_endpoint(name, **merged)
    save_config(home, config)
    shown = ", ".join(f"{k}={v}" for k, v in changes.items()) or "nothing changed"
    click.echo(f"updated endpoint {name!r}: {shown}")


@endpoints.command("list")
@format_option()
@click.pass_obj
@friendly_errors
def endpoints_list(ctx: Context, fmt: str) -> None:
    """List configured endpoints with their limits (concurrency, requests per minute, timeout,
    retries) and prices per million input and output tokens; ``--format json`` gives every
    field."""
    import pyarrow as pa

    from lakeinfer.config import load_config, resolve_home

    config = load_config(resolve_home(ctx.home))
    rows = [
        {"name": name, **endpoint.model_dump(mode="json")}
        for name, endpoint in sorted(config.endpoints.items())
    ]
    if fmt == "json":
        for row in rows:
            click.echo(json.dumps(row))
        return
    columns = [
        *("name", "provider", "task", "model", "base_url", "api_key_env"),
        # the limits each call is held to, and what a million tokens cost
        *("max_concurrency", "requests_per_minute", "timeout_s", "max_retries"),
        *("price_input_per_million", "price_output_per_million"),
        *("batch_mode", "price_batch_input_per_million", "price_batch_output_per_million"),
    ]
    emit(pa.table({c: [r.get(c) for r in rows] for c in columns}), fmt)


@endpoints.command("delete")
@click.argument("name")
@click.pass_obj
@friendly_errors
def endpoints_delete(ctx: Context, name: str) -> None:
    """Delete the endpoint NAME."""
    from lakeinfer.config import load_config, resolve_home, save_config
    from lakeinfer.errors import UnknownEndpointError

    home = resolve_home(ctx.home)
    config = load_config(home)
    if name not in config.endpoints:
        raise UnknownEndpointError(name, config.endpoints)
    del config.endpoints[name]
    save_config(home, config)
    click.echo(f"deleted endpoint {name!r}")


def register_commands(cli: click.Group) -> None:
    cli.add_command(endpoints)
