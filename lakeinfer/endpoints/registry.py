"""Turns an endpoint name from ``ai_query`` into a provider.

Precedence: an endpoint configured in ``config.toml`` > a Databricks workspace (for the
pre-provisioned ``databricks-*`` names, when ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` are
set) > the embedded stand-in model. Whenever something other than the named model answers, a
one-line notice says which model really did.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from lakeinfer.config import LakeinferConfig
from lakeinfer.endpoints.base import Provider
from lakeinfer.endpoints.openai_http import OpenAIProvider
from lakeinfer.errors import UnknownEndpointError
from lakeinfer.runtime.limits import EndpointLimits

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
EMBEDDED_PARALLEL_FACTOR = 2
HTTP_BACKSTOP_TIMEOUT_S = 3600.0  # keep the server's sequences busy while answers stream back


class EndpointRegistry:
    """Resolves and caches providers for one session; :meth:`close` releases them."""

    def __init__(self, config: LakeinferConfig, notice: Callable[[str], None]):
        self.config = config
        self._notice = notice
        self._providers: dict[str, Provider] = {}

    def names(self) -> list[str]:
        return sorted(set(self.config.endpoints) | set(PREPROVISIONED_CHAT))

    def task_of(self, name: str) -> str:
        """``chat`` or ``embeddings``, without starting anything."""
        endpoint = self.config.endpoints.get(name)
        if endpoint is not None:
            return endpoint.task
        if name in PREPROVISIONED_CHAT:
            return "chat"
        raise UnknownEndpointError(name, self.names())

    def identity_of(self, name: str) -> str:
        """What really answers for ``name`` (base URL and model, or the embedded GGUF), so
        cached answers are never served for a different model under the same name."""
        endpoint = self.config.endpoints.get(name)
        if endpoint is not None:
            return f"{endpoint.provider}|{endpoint.base_url}|{endpoint.model}|{endpoint.task}"
        host = os.environ.get("DATABRICKS_HOST")
        if name in PREPROVISIONED_CHAT and host and os.environ.get("DATABRICKS_TOKEN"):
            return f"databricks|{host}|{name}"
        if name in PREPROVISIONED_CHAT:
            from lakeinfer.endpoints.llama_server import default_model_path

            return f"embedded|{default_model_path().name}"
        raise UnknownEndpointError(name, self.names())

    def prices_of(self, name: str) -> tuple[float | None, float | None]:
        """USD per million input and output tokens, when configured."""
        endpoint = self.config.endpoints.get(name)
        if endpoint is None:
            return None, None
        return endpoint.price_input_per_million, endpoint.price_output_per_million

    def logs_requests(self, name: str) -> bool:
        endpoint = self.config.endpoints.get(name)
        return bool(endpoint and endpoint.log_requests)

    def limits_of(self, name: str) -> EndpointLimits:
        """The limits to drive endpoint ``name`` with (config.toml, else the provider's own)."""
        endpoint = self.config.endpoints.get(name)
        if endpoint is not None:
            return endpoint.limits()
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
            return OpenAIProvider(
                name,
                base_url=endpoint.base_url,
                model=endpoint.model,
                task=endpoint.task,
                api_key=endpoint.api_key(),
                max_concurrency=endpoint.max_concurrency,
                # the scheduler enforces timeout_s (a session may SET it); this is a backstop
                timeout_s=max(endpoint.timeout_s, HTTP_BACKSTOP_TIMEOUT_S),
                max_retries=endpoint.max_retries,
            )
        if name in PREPROVISIONED_CHAT:
            host, token = os.environ.get("DATABRICKS_HOST"), os.environ.get("DATABRICKS_TOKEN")
            if host and token:
                host = host if host.startswith("http") else f"https://{host}"
                self._notice(f"endpoint {name!r} is answered by the Databricks workspace {host}")
                return OpenAIProvider(
                    name,
                    base_url=f"{host.rstrip('/')}/serving-endpoints",
                    model=name,
                    api_key=token,
                    max_concurrency=64,
                )
            return self._embedded(name)
        raise UnknownEndpointError(name, self.names())

    def _embedded(self, name: str) -> Provider:
        from lakeinfer.endpoints.llama_server import (
            EMBEDDED_MODEL_NAME,
            LlamaServerProvider,
            shared_server,
        )

        server = shared_server()
        self._notice(
            f"endpoint {name!r} is answered by the embedded model {EMBEDDED_MODEL_NAME} "
            f"(configure an endpoint of that name to use another model)"
        )
        return LlamaServerProvider(
            name,
            slots=server.settings.parallel,
            base_url=server.base_url,
            model="embedded",
            api_key=server.api_key,
            max_concurrency=server.settings.parallel * EMBEDDED_PARALLEL_FACTOR,
            timeout_s=600.0,
            description=EMBEDDED_MODEL_NAME,
            extra_body={"cache_prompt": True},
        )

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()
