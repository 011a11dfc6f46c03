"""The provider table: every kind of endpoint lakeinfer can build, by provider name.

Each :class:`ProviderKind` says what a ``config.toml`` endpoint of that provider must set
(``fields``), which tasks it serves (the first is its default), and how to build it
(``factory(name, config)`` -> :class:`~lakeinfer.endpoints.base.Provider`). The built-in
providers are registered below; an installed package adds its own under the
``lakeinfer.providers`` entry point group::

    [project.entry-points."lakeinfer.providers"]
    my-provider = "my_package:create"

``create(name, config)`` gets the endpoint's name and its
:class:`~lakeinfer.config.EndpointConfig` (provider-specific settings are in
``config.options``) and returns a Provider; such providers serve any task (``custom`` by
default). Code can also call :func:`register` directly. Users then
``lakeinfer endpoints create NAME --provider my-provider [--option key=value ...]``.

:mod:`lakeinfer.config` stores and validates endpoints as data, and asks this module's
:func:`check_endpoint` (by module name: it imports nothing of the endpoints) whether an
endpoint fits its provider's row of the table.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from lakeinfer.endpoints.base import Provider
from lakeinfer.errors import ConfigError
from lakeinfer.redaction import register as register_secret

if TYPE_CHECKING:
    from lakeinfer.config import EndpointConfig

#: The entry point group of third-party providers.
GROUP = "lakeinfer.providers"
#: How long an HTTP provider's own client waits; the scheduler enforces the endpoint's
#: timeout_s (a session may SET it), this keeps the server's sequences busy while answers stream.
HTTP_BACKSTOP_TIMEOUT_S = 3600.0

Factory = Callable[[str, "EndpointConfig"], Provider]


@dataclass(frozen=True)
class ProviderKind:
    """One provider: its name, the tasks it serves (the first is the default; None: any task,
    ``custom`` by default), the config fields it needs, and its factory. ``http``: it calls a
    server (its limits are the endpoint's), else it runs its model in this process."""

    name: str
    tasks: tuple[str, ...] | None
    fields: tuple[str, ...]
    factory: Factory
    http: bool = False


_KINDS: dict[str, ProviderKind] = {}


def register(kind: ProviderKind) -> None:
    """Add (or replace) a provider in the table."""
    _KINDS[kind.name] = kind


def unregister(name: str) -> None:
    """Remove a provider registered with :func:`register`."""
    _KINDS.pop(name, None)


def provider_names() -> list[str]:
    """Every provider an endpoint may name: registered and installed ones."""
    return sorted(set(_KINDS) | set(_entry_points()))


def plugin_names() -> list[str]:
    """Names of the installed third-party providers (the entry point group)."""
    return sorted(_entry_points())


def find(name: str) -> ProviderKind | None:
    """The provider called ``name``: registered, else installed (entry point), else None."""
    kind = _KINDS.get(name)
    if kind is not None:
        return kind
    entry = _entry_points().get(name)
    if entry is None:
        return None
    return ProviderKind(name, None, (), _entry_point_factory(entry))


def create(name: str, config: EndpointConfig) -> Provider:
    """Build endpoint ``name`` with its provider ``config.provider``."""
    kind = find(config.provider)
    if kind is None:
        raise ConfigError(
            f"endpoint {name!r}: provider {config.provider!r} is not installed "
            f"(no entry point of that name in the group {GROUP!r})"
        )
    return kind.factory(name, config)


def check_endpoint(endpoint: EndpointConfig) -> None:
    """Hold ``endpoint`` to its provider's row: the provider exists, the fields it needs are
    set, the task is one it serves (its first task when none is given, ``custom`` for an
    installed provider). Raises ``ValueError``, which the configuration reports."""
    kind = find(endpoint.provider)
    if kind is None:
        raise ValueError(
            f"unknown provider {endpoint.provider!r}; available: "
            f"{', '.join(provider_names())} (third-party providers register the "
            f"entry point group {GROUP!r})"
        )
    missing = [f for f in kind.fields if getattr(endpoint, f) is None]
    if missing:
        flags = ", ".join("--" + f.replace("_", "-") for f in missing)
        raise ValueError(f"provider {endpoint.provider!r} needs {flags}")
    tasks = kind.tasks
    if tasks is None:  # a plugin: any task, custom unless told
        if endpoint.task is None:
            endpoint.task = "custom"
        return
    if endpoint.task is None:
        endpoint.task = tasks[0]  # type: ignore[assignment]
    if endpoint.task not in tasks:
        raise ValueError(
            f"provider {endpoint.provider!r} does not serve task {endpoint.task!r}; "
            f"use --task {' or '.join(tasks)}"
        )


def is_http(provider: str) -> bool:
    kind = _KINDS.get(provider)
    return kind is not None and kind.http


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def _entry_point_factory(entry: EntryPoint) -> Factory:
    def create(name: str, config: EndpointConfig) -> Provider:
        try:
            factory: Callable[..., Any] = entry.load()
        except Exception as exc:
            raise ConfigError(
                f"endpoint {name!r}: provider {config.provider!r} ({entry.value}) cannot be "
                f"loaded: {exc.__class__.__name__}: {exc}"
            ) from None
        provider = factory(name, config)
        if not isinstance(provider, Provider):
            raise ConfigError(
                f"endpoint {name!r}: provider {config.provider!r} ({entry.value}) returned "
                f"{type(provider).__name__}, not a lakeinfer Provider"
            )
        return provider

    return create


# -- the built-in providers ----------------------------------------------------------------


def _batch(config: EndpointConfig) -> dict[str, int]:
    return {"max_batch": config.max_batch} if config.max_batch else {}


def _openai_compatible(name: str, config: EndpointConfig, base_url: str) -> Provider:
    from lakeinfer.endpoints.openai_http import OpenAIProvider

    assert config.model is not None
    return OpenAIProvider(
        name,
        base_url=base_url,
        model=config.model,
        task="embeddings" if config.task == "embeddings" else "chat",
        api_key=api_key(config),
        max_concurrency=config.max_concurrency,
        timeout_s=max(config.timeout_s, HTTP_BACKSTOP_TIMEOUT_S),
        max_retries=config.max_retries,
        # options.stream: answers stream, so a slow answer that keeps coming is not a dead one
        stream=bool(config.options.get("stream", False)),
        **_batch(config),
    )


def _openai(name: str, config: EndpointConfig) -> Provider:
    assert config.base_url is not None
    return _openai_compatible(name, config, config.base_url)


def _databricks(name: str, config: EndpointConfig) -> Provider:
    assert config.base_url is not None and config.model is not None
    if config.task in ("chat", "embeddings"):
        return _openai_compatible(name, config, f"{config.base_url}/serving-endpoints")
    from lakeinfer.endpoints.databricks_serving import DatabricksServingProvider

    return DatabricksServingProvider(
        name,
        host=config.base_url,
        endpoint=config.model,
        api_key=api_key(config),
        max_concurrency=config.max_concurrency,
        timeout_s=max(config.timeout_s, HTTP_BACKSTOP_TIMEOUT_S),
        max_retries=config.max_retries,
        **_batch(config),
    )


def _sentence_transformers(name: str, config: EndpointConfig) -> Provider:
    from lakeinfer.endpoints.sentence_transformers import SentenceTransformerProvider

    assert config.model is not None
    return SentenceTransformerProvider(
        name, config.model, normalize=bool(config.options.get("normalize")), **_batch(config)
    )


def _transformers(name: str, config: EndpointConfig) -> Provider:
    from lakeinfer.endpoints.hf_pipeline import PipelineProvider

    assert config.model is not None
    return PipelineProvider(
        name,
        config.task,
        config.model,
        aggregation_strategy=config.options.get("aggregation_strategy"),
        **_batch(config),
    )


def _mlflow(name: str, config: EndpointConfig) -> Provider:
    from lakeinfer.endpoints.mlflow_pyfunc import MlflowProvider

    assert config.model_uri is not None
    return MlflowProvider(name, config.model_uri, **_batch(config))


def api_key(config: EndpointConfig) -> str | None:
    """The endpoint's key; a ``databricks`` endpoint without ``api_key_env`` uses
    ``DATABRICKS_TOKEN``."""
    key = config.api_key()
    if key is None and config.provider == "databricks":
        key = os.environ.get("DATABRICKS_TOKEN")
        if not key:
            raise ConfigError(
                "environment variable DATABRICKS_TOKEN is not set (it holds the token of "
                "Databricks serving endpoints; or name another with --api-key-env)"
            )
        register_secret(key)
    return key


for _kind in (
    ProviderKind("openai", ("chat", "embeddings"), ("base_url", "model"), _openai, http=True),
    ProviderKind(
        "databricks",
        ("custom", "chat", "embeddings"),
        ("base_url", "model"),
        _databricks,
        http=True,
    ),
    ProviderKind("sentence-transformers", ("embeddings",), ("model",), _sentence_transformers),
    ProviderKind(
        "transformers", ("token-classification", "text-classification"), ("model",), _transformers
    ),
    ProviderKind("mlflow", ("custom",), ("model_uri",), _mlflow),
):
    register(_kind)
