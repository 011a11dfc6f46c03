"""Turns an endpoint name from ``ai_query`` into a provider.

Precedence: a Python function registered in the session > an endpoint configured in
``config.toml`` > a Databricks workspace (for the pre-provisioned ``databricks-*`` names, when
``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` are set) > the embedded stand-in models (SmolLM2
for chat, all-MiniLM-L6-v2 for embeddings). Whenever something other than the named model
answers, a one-line notice says which model really did.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from lakeinfer.endpoints import providers
from lakeinfer.endpoints.base import Provider
from lakeinfer.endpoints.urls import check_http_url
from lakeinfer.errors import ConfigError, UnknownEndpointError
from lakeinfer.redaction import register
from lakeinfer.runtime.limits import EndpointLimits

if TYPE_CHECKING:
    from lakeinfer.config import LakeinferConfig

#: Databricks' pre-provisioned chat endpoints; without a workspace they resolve to the embedded model.
PREPROVISIONED_CHAT = (
    "databricks-meta-llama-3-1-8b-instruct",
    "databricks-meta-llama-3-3-70b-instruct",
    "databricks-meta-llama-3-1-405b-instruct",
    "databricks-llama-4-maverick",
    "databricks-claude-sonnet-4",
    "databricks-claude-3-7-sonnet",
    "databricks-claude-sonnet-4-6",
    "databricks-claude-opus-4-6",
    "databricks-gpt-oss-20b",
    "databricks-gpt-oss-120b",
    "databricks-gemma-3-12b",
    "databricks-qwen35-122b-a10b",
    "databricks-dbrx-instruct",
    "databricks-mixtral-8x7b-instruct",
)
#: Databricks' pre-provisioned embedding endpoints; without a workspace, the embedded MiniLM.
PREPROVISIONED_EMBEDDINGS = (
    "databricks-gte-large-en",
    "databricks-bge-large-en",
    "databricks-qwen3-embedding-0-6b",
)
#: config.toml tasks -> the request/answer kind ai_query uses
_KIND = {
    "chat": "chat",
    "embeddings": "embeddings",
    "token-classification": "custom",
    "text-classification": "custom",
    "custom": "custom",
}


class EndpointRegistry:
    """Resolves and caches providers for one session; :meth:`close` releases them."""

    def __init__(
        self,
        config: LakeinferConfig | Callable[[], LakeinferConfig],
        notice: Callable[[str], None],
    ):
        """``config``: the configuration, or what returns it when an endpoint is first
        looked up."""
        self._config = config
        self._notice = notice
        self._providers: dict[str, Provider] = {}
        #: providers registered from the Python API (functions), by name
        self._registered: dict[str, Provider] = {}
        self._retired: list[Provider] = []
        #: Databricks names answered by an embedded model instead, and that model
        self._stand_ins: dict[str, str] = {}

    def stand_in_of(self, name: str) -> str | None:
        """The embedded model that answers the Databricks endpoint ``name`` in this session,
        or None when ``name`` is served by what it names (or has not been called)."""
        return self._stand_ins.get(name)

    @property
    def config(self) -> LakeinferConfig:
        """The configuration the endpoints are looked up in."""
        if callable(self._config):
            self._config = self._config()
        return self._config

    def names(self) -> list[str]:
        return sorted(
            set(self._registered)
            | set(self.config.endpoints)
            | set(PREPROVISIONED_CHAT)
            | set(PREPROVISIONED_EMBEDDINGS)
        )

    def register(self, provider: Provider) -> None:
        """Serve ``provider`` under ``provider.name`` in this session (over any configured
        endpoint of the same name)."""
        self._registered[provider.name] = provider
        old = self._providers.pop(provider.name, None)
        if old is not None and old is not provider:
            self._retired.append(old)
        self._providers[provider.name] = provider

    def task_of(self, name: str) -> str:
        """``chat``, ``embeddings`` or ``custom``, without starting anything."""
        registered = self._registered.get(name)
        if registered is not None:
            return registered.capabilities.task
        endpoint = self.config.endpoints.get(name)
        if endpoint is not None:
            return _KIND.get(endpoint.task, "custom")
        if name in PREPROVISIONED_CHAT:
            return "chat"
        if name in PREPROVISIONED_EMBEDDINGS:
            return "embeddings"
        if _workspace() is not None:
            return "custom"  # any other name: a custom model serving endpoint of the workspace
        raise UnknownEndpointError(name, self.names())

    def scores_completions(self, name: str) -> bool:
        """Whether chat endpoint ``name`` has the ``scored_completions`` capability (the
        embedded llama.cpp model), without starting it: a configured HTTP endpoint never has."""
        provider = self._providers.get(name)
        if provider is not None:
            return provider.capabilities.scored_completions
        endpoint = self.config.endpoints.get(name)
        if endpoint is not None:
            if providers.is_http(endpoint.provider):
                return False
            return self.get(name).capabilities.scored_completions
        if name in PREPROVISIONED_CHAT:
            return _workspace() is None  # else the workspace's endpoint answers
        return False

    def return_ddl_of(self, name: str) -> str | None:
        """The type a custom endpoint answers without ``returnType`` (its model signature or
        its pipeline's shape); None when it declares none. Loads the provider."""
        if self.task_of(name) != "custom":
            return None
        return self.get(name).return_ddl

    def cacheable(self, name: str) -> bool:
        """Whether answers of ``name`` may be kept in the persistent response cache: not those
        of Python functions, whose code can change under the same name between sessions."""
        return name not in self._registered

    def identity_of(self, name: str) -> str:
        """What really answers for ``name`` (base URL and model, or the embedded GGUF), so
        cached answers are never served for a different model under the same name."""
        registered = self._registered.get(name)
        if registered is not None:
            return f"function|{registered.description}|{id(registered)}"
        endpoint = self.config.endpoints.get(name)
        if endpoint is not None:
            return f"{endpoint.provider}|{endpoint.base_url}|{endpoint.model}|{endpoint.task}" + (
                f"|{endpoint.model_uri}" if endpoint.model_uri else ""
            )
        host = os.environ.get("DATABRICKS_HOST")
        preprovisioned = name in PREPROVISIONED_CHAT or name in PREPROVISIONED_EMBEDDINGS
        if preprovisioned and host and os.environ.get("DATABRICKS_TOKEN"):
            return f"databricks|{host}|{name}"
        if name in PREPROVISIONED_CHAT:
            from lakeinfer.endpoints.llama_server import default_model_path

            return f"embedded|{default_model_path().name}"
        if name in PREPROVISIONED_EMBEDDINGS:
            from lakeinfer.endpoints.sentence_transformers import EMBEDDED_EMBEDDING_MODEL

            return f"embedded|{EMBEDDED_EMBEDDING_MODEL}"
        if host and os.environ.get("DATABRICKS_TOKEN"):
            return f"databricks|{host}|{name}|invocations"
        raise UnknownEndpointError(name, self.names())

    def prices_of(self, name: str) -> tuple[float | None, float | None]:
        """USD per million input and output tokens, when configured."""
        endpoint = self.config.endpoints.get(name)
        if endpoint is None:
            return None, None
        return endpoint.price_input_per_million, endpoint.price_output_per_million

    def batch_prices_of(self, name: str) -> tuple[float | None, float | None]:
        """USD per million input and output tokens answered in a batch: the configured batch
        prices, else half the online ones."""
        endpoint = self.config.endpoints.get(name)
        if endpoint is None:
            return None, None
        online = self.prices_of(name)
        given = (endpoint.price_batch_input_per_million, endpoint.price_batch_output_per_million)
        price_in, price_out = (
            b if b is not None else (None if o is None else o / 2)
            for b, o in zip(given, online, strict=True)
        )
        return price_in, price_out

    def batch_mode_of(self, name: str) -> str | None:
        """The endpoint's own ``batch_mode`` in config.toml (None: not set)."""
        endpoint = self.config.endpoints.get(name)
        return None if endpoint is None or name in self._registered else endpoint.batch_mode

    def logs_requests(self, name: str) -> bool:
        endpoint = self.config.endpoints.get(name)
        return bool(endpoint and endpoint.log_requests)

    def limits_of(self, name: str) -> EndpointLimits:
        """The limits to drive endpoint ``name`` with (config.toml, else the provider's own)."""
        endpoint = self.config.endpoints.get(name)
        if endpoint is not None and name not in self._registered:
            limits = endpoint.limits()
            if providers.is_http(endpoint.provider):
                return limits
            # a model in this process: its own concurrency (one batch at a time), timeout and
            # retries, unless config.toml says otherwise
            provider = self.get(name)
            own = {
                "max_concurrency": provider.capabilities.max_concurrency,
                "timeout_s": provider.timeout_s,
                "max_retries": provider.max_retries,
            }
            given = endpoint.model_fields_set
            return replace(limits, **{k: v for k, v in own.items() if k not in given})
        provider = self.get(name)
        return EndpointLimits(
            max_concurrency=provider.capabilities.max_concurrency,
            max_retries=provider.max_retries,
            timeout_s=provider.timeout_s,
        )

    def get(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is None:
            provider = self._create(name)
            self._providers[name] = provider
        return provider

    def _create(self, name: str) -> Provider:
        endpoint = self.config.endpoints.get(name)
        if endpoint is not None:
            return providers.create(name, endpoint)
        preprovisioned = name in PREPROVISIONED_CHAT or name in PREPROVISIONED_EMBEDDINGS
        if preprovisioned:
            workspace = _workspace()
            if workspace is not None:
                host, token = workspace
                self._notice(f"endpoint {name!r} is answered by the Databricks workspace {host}")
                from lakeinfer.endpoints.openai_http import OpenAIProvider  # aiohttp: on use

                return OpenAIProvider(
                    name,
                    base_url=f"{host.rstrip('/')}/serving-endpoints",
                    model=name,
                    task="embeddings" if name in PREPROVISIONED_EMBEDDINGS else "chat",
                    api_key=token,
                    max_concurrency=64,
                )
            if name in PREPROVISIONED_EMBEDDINGS:
                return self._embedded_embeddings(name)
            return self._embedded(name)
        workspace = _workspace()
        if workspace is not None:
            from lakeinfer.endpoints.databricks_serving import DatabricksServingProvider

            host, token = workspace
            self._notice(
                f"endpoint {name!r} is a custom model serving endpoint of the Databricks "
                f"workspace {host}"
            )
            return DatabricksServingProvider(
                name, host=host, endpoint=name, api_key=token, max_concurrency=64
            )
        raise UnknownEndpointError(name, self.names())

    def _embedded_embeddings(self, name: str) -> Provider:
        from lakeinfer.endpoints.sentence_transformers import (
            EMBEDDED_EMBEDDING_MODEL,
            SentenceTransformerProvider,
            embedded_model_path,
        )

        path = embedded_model_path()
        self._stand_ins[name] = EMBEDDED_EMBEDDING_MODEL
        self._notice(
            f"endpoint {name!r} is answered by the embedded model {EMBEDDED_EMBEDDING_MODEL} "
            f"(384 dimensions; set DATABRICKS_HOST and DATABRICKS_TOKEN, or configure an "
            f"endpoint of that name, to use another model)"
        )
        return SentenceTransformerProvider(
            name, path, description=f"{EMBEDDED_EMBEDDING_MODEL} (embedded)"
        )

    def _embedded(self, name: str) -> Provider:
        from lakeinfer.endpoints.embedded_chat import EmbeddedChatProvider
        from lakeinfer.endpoints.llama_server import EMBEDDED_MODEL_NAME

        provider = EmbeddedChatProvider(name)
        self._stand_ins[name] = EMBEDDED_MODEL_NAME
        self._notice(
            f"endpoint {name!r} is answered by the embedded model {EMBEDDED_MODEL_NAME} "
            f"(configure an endpoint of that name to use another model)"
        )
        return provider

    @property
    def holds_providers(self) -> bool:
        """Whether a provider was built that :meth:`aclose` must release."""
        return bool(self._providers or self._retired)

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        providers += self._retired
        self._retired = []
        for provider in providers:
            await provider.aclose()


def _workspace() -> tuple[str, str] | None:
    """``(https://host, token)`` when ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` are set."""
    host, token = os.environ.get("DATABRICKS_HOST"), os.environ.get("DATABRICKS_TOKEN")
    if not host or not token:
        return None
    register(token)
    url = host if host.startswith("http") else f"https://{host}"
    try:
        return check_http_url(url), token
    except ValueError as exc:
        raise ConfigError(f"DATABRICKS_HOST: {exc}") from None
